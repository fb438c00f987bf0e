package sentiment

import (
	_ "embed"
)

// The VADER lexicon (MIT, C.J. Hutto; lexicon/LICENSE-vader.txt): each
// token's mean valence from ten raters, -4..4.
//
//go:embed lexicon/vader.tsv
var vaderLexicon string

// englishBoosters are the degree adverbs of the paper with the increment
// they add (dampeners take it off).
var englishBoosters = words(boostIncr,
	"absolutely", "amazingly", "awfully", "completely", "considerably",
	"decidedly", "deeply", "effing", "enormously", "entirely", "especially",
	"exceptionally", "extremely", "fabulously", "flipping", "flippin",
	"fricking", "frickin", "frigging", "friggin", "fully", "fuckin",
	"fucking", "greatly", "hella", "highly", "hugely", "incredible",
	"incredibly", "intensely", "majorly", "more", "most", "particularly", "purely",
	"quite", "really", "remarkably", "so", "substantially", "thoroughly", "totally",
	"tremendously", "uber", "unbelievably", "unusually", "utterly", "very",
).with(boostDecr,
	"almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of",
	"less", "little", "marginally", "occasionally", "partly",
	"scarcely", "slightly", "somewhat", "sort of", "sorta", "sortof", "sort-of",
)

var englishNegations = set(
	"aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt",
	"ain't", "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't",
	"dont", "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither",
	"don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't",
	"neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere",
	"oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
	"oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't",
	"without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite",
)

// englishIdioms are the reference's special-case idioms, which replace the
// valence of a lexicon word within them.
var englishIdioms = map[string]float64{
	"the shit": 3, "the bomb": 3, "bad ass": 1.5, "yeah right": -2,
	"cut the mustard": 2, "kiss of death": -1.5, "hand to mouth": -2,
}

// laterIdioms are those of the rules' author's later code, which the
// additions use.
var laterIdioms = map[string]float64{
	"the shit": 3, "the bomb": 3, "bad ass": 1.5, "badass": 1.5, "yeah right": -2,
	"kiss of death": -1.5, "to die for": 3, "beating heart": 3.1, "broken heart": -2.9,
	"break a leg": 2, "cut the mustard": 2, "hand to mouth": -2,
}

// englishRules are VADER as published, the conformance baseline; with
// additions, without the reference's slips (see readLexicon, butByValue,
// neverSo) and with the idioms of the rules' author's later code.
func englishRules(additions bool) *rules {
	lex := map[string]float64{}
	readLexicon(vaderLexicon, lex, additions)
	if additions {
		return &rules{
			lexicon:   lex,
			boosters:  englishBoosters,
			negate:    englishNegations,
			negSuffix: "n't",
			idioms:    laterIdioms,
			but:       set("but", "BUT"),
			never:     "never",
			soThis:    set("so", "this"),
			least:     "least",
			atLeast:   []string{"at", "very"},
		}
	}
	return &rules{
		butByValue: true,
		neverSo:    neverSoNear,
		lexicon:    lex,
		boosters:   englishBoosters,
		negate:     englishNegations,
		negSuffix:  "n't",
		idioms:     englishIdioms,
		but:        set("but", "BUT"),
		never:      "never",
		soThis:     set("so", "this"),
		least:      "least",
		atLeast:    []string{"at", "very"},
	}
}

type weights map[string]float64

func words(v float64, ws ...string) weights {
	m := weights{}
	return m.with(v, ws...)
}

func (m weights) with(v float64, ws ...string) weights {
	for _, w := range ws {
		m[w] = v
	}
	return m
}

func set(ws ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range ws {
		m[w] = true
	}
	return m
}
