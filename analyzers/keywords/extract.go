package keywords

import (
	"bufio"
	"embed"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/french"
	"github.com/kljensen/snowball/spanish"
)

//go:embed stopwords/*.txt
var stopwordFiles embed.FS

// Languages lists the languages with their own stopwords and stemmer;
// other text is read with the English ones.
var Languages = []string{"de", "en", "es", "fr"}

// Keyword is one key phrase and its score; scores compare within one
// message only.
type Keyword struct {
	Phrase string  `json:"phrase"`
	Score  float64 `json:"score"`
}

// DF gives document frequencies: in how many of Docs recent messages a
// stem occurred. A nil DF weighs every word alike.
type DF interface {
	Docs() int
	Count(stem string) int
}

// Options tune extraction.
type Options struct {
	// Window is the co-occurrence window of the word graph, in words.
	Window int
	// MaxWords is the longest phrase kept, in words.
	MaxWords int
	// Position biases the word graph towards words that come early, as
	// the subject and first lines of a mail say what it is about.
	Position bool
	// TF weighs words by their count instead of their graph rank.
	TF bool
	// Grams makes every run of up to MaxWords words inside a longer run a
	// candidate too, scored by its count times the mean weight of its
	// words, which favours the short names news and mail are about.
	Grams bool
	// Lead favours whole phrases that first occur early, as in the subject
	// and first lines of a mail: a phrase's score is multiplied by 1 +
	// Lead/(1 + p/LeadWords), p the position of its first word. 0 is off.
	Lead, LeadWords float64
	// Repeat weighs a whole phrase by its count to this power; 0 is off.
	Repeat float64
	// OneWord multiplies the score of a one-word whole phrase: the words of
	// a topic tend to come together; 0 means 1.
	OneWord float64

	// RankPower is the power of a word's graph rank in its weight (rank^
	// RankPower times IDF); 0 means 1. Below 1 the rank only orders words
	// of similar rarity: on short text a word's count says little.
	RankPower float64

	// ShortWords weighs a word whose stem has n < ShortWords letters by
	// (n/ShortWords)^2; 0 is off. In news the short words are the everyday
	// ones ("year", "bank", "city", "team") a story mentions without being
	// about them, and a collection of a few hundred stories is too small
	// for their document frequency to tell.
	ShortWords float64
}

// Methods.
const (
	MethodSingleRank = "singlerank"
	MethodTFIDF      = "tfidf"
	MethodNews       = "news"
)

// Methods lists the methods MethodOptions knows.
var Methods = []string{MethodSingleRank, MethodTFIDF, MethodNews}

// MethodOptions returns the options of a method: singlerank (whole runs
// of words between stopwords, ranked by a position-biased word graph
// weighted by IDF, phrases favoured when early, repeated and of several
// words; best on short text), tfidf (every run of up to three words, by
// count times mean TF-IDF; best on long text with many names), news
// (tfidf with short words weighed down; best on news stories).
//
// The constants of singlerank's weighting were chosen on the 1,499 Inspec
// abstracts outside its test split, with their uncontrolled keys, and
// checked on SemEval2017 (docs/benchmarks.md), never on the test sets.
// news's were chosen on the development half of 500N-KPCrowd.
func MethodOptions(method string) (Options, bool) {
	switch method {
	case MethodSingleRank:
		return Options{Window: 10, MaxWords: 5, Position: true, Lead: 8, LeadWords: 30, Repeat: 0.6, OneWord: 0.3, RankPower: 0.25}, true
	case MethodTFIDF:
		return Options{Window: 10, MaxWords: 3, TF: true, Grams: true}, true
	case MethodNews:
		return Options{Window: 10, MaxWords: 3, TF: true, Grams: true, ShortWords: 7}, true
	}
	return Options{}, false
}

// Extractor finds key phrases in text of one language. It is safe for
// concurrent use.
type Extractor struct {
	// stems caches the stems of words seen, shared by every message: mail
	// repeats its vocabulary, and stemming is the costly part of reading.
	stems     sync.Map
	stemCount atomic.Int64
	lang      string
	stop      map[string]bool
	stem      func(string) string
	opts      Options
}

// NewExtractor returns the extractor for lang (ISO 639-1); a language
// without its own word lists gets the English ones.
func NewExtractor(lang string, o Options) *Extractor {
	if !slices.Contains(Languages, lang) {
		lang = "en"
	}
	x := &Extractor{lang: lang, stop: map[string]bool{}, opts: o}
	b, err := stopwordFiles.ReadFile("stopwords/" + lang + ".txt")
	if err != nil {
		panic("keywords: missing embedded stopwords for " + lang)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, w := range strings.Fields(line) {
			x.stop[w] = true
		}
	}
	switch lang {
	case "en":
		x.stem = func(w string) string { return english.Stem(w, false) }
	case "fr":
		x.stem = func(w string) string { return french.Stem(w, false) }
	case "es":
		x.stem = func(w string) string { return spanish.Stem(w, false) }
	case "de":
		x.stem = germanStem
	}
	return x
}

// maxCachedStems bounds the stem cache; past it, words are stemmed each time.
const maxCachedStems = 100000

func (x *Extractor) cachedStem(w string) string {
	if st, ok := x.stems.Load(w); ok {
		return st.(string)
	}
	st := x.stem(w)
	if x.stemCount.Load() < maxCachedStems {
		if _, loaded := x.stems.LoadOrStore(strings.Clone(w), st); !loaded {
			x.stemCount.Add(1)
		}
	}
	return st
}

// Stem returns the stem of one lower-case word.
func (x *Extractor) Stem(w string) string { return x.stem(w) }

// token is one word of the text.
type token struct {
	word string // lower case
	stem string
	stop bool
	// brk says a phrase cannot continue from the previous token to this
	// one: punctuation or a line break stood between them.
	brk bool
}

// tokenize splits text into words, marking stopwords and phrase breaks.
// URLs and addresses are breaks: they are artifacts of their own.
func (x *Extractor) tokenize(text string) []token {
	var out []token
	brk := true
	for _, chunk := range strings.Fields(text) {
		if strings.Contains(chunk, "://") || strings.Contains(chunk, "@") || strings.HasPrefix(chunk, "www.") {
			brk = true
			continue
		}
		start := -1
		emit := func(end int) {
			if start < 0 {
				return
			}
			w := strings.Trim(chunk[start:end], "-'’")
			start = -1
			if w == "" {
				return
			}
			lw := strings.ToLower(w)
			stop := false
			switch x.lang {
			case "fr":
				lw = elide(lw)
			case "en":
				lw, stop = englishForm(lw)
			}
			t := token{word: lw, brk: brk, stop: stop || x.stop[lw] || !wordLike(lw)}
			// A participle in -ed is an adjective at the head of a noun
			// phrase ("distributed systems") but a verb after a noun
			// ("the system designed"): it may start a phrase, not
			// continue one.
			if x.lang == "en" && len(lw) > 4 && strings.HasSuffix(lw, "ed") && !edNouns[lw] {
				t.brk = true
			}
			if !t.stop {
				t.stem = x.cachedStem(lw)
			}
			out = append(out, t)
			brk = false
		}
		for i, r := range chunk {
			if unicode.IsLetter(r) || unicode.IsDigit(r) || (start >= 0 && (r == '-' || r == '\'' || r == '’')) {
				if start < 0 {
					start = i
				}
				continue
			}
			emit(i)
			brk = true
		}
		emit(len(chunk))
	}
	return out
}

// wordLike rejects what cannot be a topic word: numbers, one letter, and
// very long strings (hashes, tokens).
func wordLike(w string) bool {
	n, letters := 0, 0
	for _, r := range w {
		n++
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters > 0 && n >= 2 && n <= 30 && (letters > 1 || n > 2)
}

type candidate struct {
	stems   []string
	surface string
	first   int
	count   int
}

// Extract returns up to max key phrases of text, best first.
//
// The method is SingleRank (Wan & Xiao 2008) weighted by inverse document
// frequency: the words of candidate phrases (runs of non-stopwords between
// breaks) form a graph whose edges count co-occurrences within a window;
// PageRank, biased towards early words (PositionRank, Florescu & Caragea
// 2017) when Position is set, ranks the words; a word's weight is its rank
// (to the power RankPower) times its IDF over recent mail; a phrase scores
// the sum of its words', times what its first position, count and length
// earn it (Lead, Repeat, OneWord).
func (x *Extractor) Extract(text string, df DF, max int) []Keyword {
	return x.extract(x.tokenize(text), df, max)
}

func (x *Extractor) extract(toks []token, df DF, max int) []Keyword {
	// Candidates.
	cands := map[string]*candidate{}
	var order []string
	for i := 0; i < len(toks); {
		if toks[i].stop {
			i++
			continue
		}
		j := i + 1
		for j < len(toks) && !toks[j].stop && !toks[j].brk {
			j++
		}
		add := func(a, b int) {
			stems := make([]string, 0, b-a)
			words := make([]string, 0, b-a)
			for _, t := range toks[a:b] {
				stems = append(stems, t.stem)
				words = append(words, t.word)
			}
			key := strings.Join(stems, " ")
			c := cands[key]
			if c == nil {
				c = &candidate{stems: stems, surface: strings.Join(words, " "), first: a}
				cands[key] = c
				order = append(order, key)
			}
			c.count++
		}
		if x.opts.Grams {
			for a := i; a < j; a++ {
				for b := a + 1; b <= j && b-a <= x.opts.MaxWords; b++ {
					add(a, b)
				}
			}
		} else if j-i <= x.opts.MaxWords {
			add(i, j)
		}
		i = j
	}
	if len(cands) == 0 {
		return nil
	}
	var rank map[string]float64
	if x.opts.TF {
		rank = map[string]float64{}
		for _, t := range toks {
			if !t.stop {
				rank[t.stem]++
			}
		}
	} else {
		rank = x.rankWords(toks)
	}
	weight := func(stem string) float64 {
		w := rank[stem]
		if p := x.opts.RankPower; p > 0 && p != 1 {
			w = math.Pow(w, p)
		}
		if df != nil && df.Docs() > 0 {
			n := float64(df.Docs())
			w *= math.Log((n+1)/(float64(df.Count(stem))+0.5)) + 1
		}
		if full := x.opts.ShortWords; full > 0 {
			if n := float64(utf8.RuneCountInString(stem)); n < full {
				w *= (n / full) * (n / full)
			}
		}
		return w
	}
	out := make([]Keyword, 0, len(cands))
	for _, key := range order {
		c := cands[key]
		var s float64
		for _, st := range c.stems {
			s += weight(st)
		}
		if x.opts.Grams {
			s = s / float64(len(c.stems)) * float64(c.count)
		} else {
			s *= x.phraseWeight(c)
		}
		out = append(out, Keyword{Phrase: c.surface, Score: s})
	}
	slices.SortStableFunc(out, func(a, b Keyword) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	out = x.pick(out, max)
	// Scores relative to the best, so they read the same whatever the
	// length of the mail.
	top := out[0].Score
	for i := range out {
		if top > 0 {
			out[i].Score = math.Round(out[i].Score/top*1000) / 1000
		}
	}
	return out
}

// phraseWeight is what a whole phrase's place, count and length multiply
// its words' weights by (Lead, Repeat, OneWord).
func (x *Extractor) phraseWeight(c *candidate) float64 {
	f := 1.0
	if o := x.opts; o.Lead > 0 && o.LeadWords > 0 {
		f *= 1 + o.Lead/(1+float64(c.first)/o.LeadWords)
	}
	if x.opts.Repeat > 0 {
		f *= math.Pow(float64(c.count), x.opts.Repeat)
	}
	if len(c.stems) == 1 && x.opts.OneWord > 0 {
		f *= x.opts.OneWord
	}
	return f
}

// pick takes the best max phrases. With runs of up to three words
// (tfidf) it leaves out a phrase around one already taken, since there the
// short names come first and their longer contexts only repeat them,
// unless the text has too few phrases to fill max without them. Whole
// phrases (singlerank) are all kept: a phrase inside a longer one is often
// a topic of its own ("neural network" beside "neural network training"),
// and leaving those out lost 0.7 F1@10 on the Inspec tuning set.
func (x *Extractor) pick(ranked []Keyword, max int) []Keyword {
	if !x.opts.Grams {
		return ranked[:min(max, len(ranked))]
	}
	var kept, around []Keyword
	// Blanks at both ends make a match whole words: "art" is not in
	// "smart card".
	var keptPadded []string
	for _, k := range ranked {
		padded := " " + k.Phrase + " "
		if slices.ContainsFunc(keptPadded, func(c string) bool { return strings.Contains(padded, c) }) {
			around = append(around, k)
			continue
		}
		kept = append(kept, k)
		keptPadded = append(keptPadded, padded)
		if len(kept) == max {
			return kept
		}
	}
	return append(kept, around[:min(max-len(kept), len(around))]...)
}

// rankWords runs PageRank over the co-occurrence graph of the non-stop
// words of toks.
func (x *Extractor) rankWords(toks []token) map[string]float64 {
	idx := map[string]int{}
	var seq []int
	var pers []float64
	for pos, t := range toks {
		if t.stop {
			continue
		}
		i, ok := idx[t.stem]
		if !ok {
			i = len(idx)
			idx[t.stem] = i
			pers = append(pers, 0)
		}
		seq = append(seq, i)
		pers[i] += 1 / float64(pos+1)
	}
	n := len(idx)
	// Edges in compressed rows: weights summed per pair first.
	type pair struct{ a, b int32 }
	// The graph is undirected: each pair is counted once, lower index
	// first, and entered in both rows below.
	weights := make(map[pair]float64, len(seq)*2)
	for a := range seq {
		for b := a + 1; b < len(seq) && b < a+x.opts.Window; b++ {
			u, v := int32(seq[a]), int32(seq[b])
			switch {
			case u < v:
				weights[pair{u, v}]++
			case v < u:
				weights[pair{v, u}]++
			}
		}
	}
	start := make([]int, n+1)
	for p := range weights {
		start[p.a+1]++
		start[p.b+1]++
	}
	for i := range n {
		start[i+1] += start[i]
	}
	to := make([]int32, 2*len(weights))
	wt := make([]float64, 2*len(weights))
	fill := slices.Clone(start[:n])
	sum := make([]float64, n)
	for p, w := range weights {
		k := fill[p.a]
		fill[p.a]++
		to[k], wt[k] = p.b, w
		k = fill[p.b]
		fill[p.b]++
		to[k], wt[k] = p.a, w
		sum[p.a] += w
		sum[p.b] += w
	}
	out := make([]float64, n)
	var ptot float64
	for _, p := range pers {
		ptot += p
	}
	for i := range pers {
		if x.opts.Position {
			pers[i] /= ptot
		} else {
			pers[i] = 1 / float64(n)
		}
		out[i] = 1 / float64(n)
	}
	const d = 0.85
	next := make([]float64, n)
	for iter := 0; iter < 50; iter++ {
		for i := range next {
			next[i] = (1 - d) * pers[i]
		}
		for i := range n {
			if sum[i] == 0 {
				continue
			}
			share := d * out[i] / sum[i]
			for k := start[i]; k < start[i+1]; k++ {
				next[to[k]] += share * wt[k]
			}
		}
		delta := 0.0
		for i := range out {
			delta += math.Abs(next[i] - out[i])
		}
		out, next = next, out
		if delta < 1e-6 {
			break
		}
	}
	rank := make(map[string]float64, n)
	for s, i := range idx {
		rank[s] = out[i]
	}
	return rank
}

// Stems returns the distinct stems of text's candidate words, what a
// message adds to the document frequencies.
func (x *Extractor) Stems(text string) []string {
	return stemsOf(x.tokenize(text))
}

func stemsOf(toks []token) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range toks {
		if !t.stop && !seen[t.stem] {
			seen[t.stem] = true
			out = append(out, t.stem)
		}
	}
	return out
}

// englishForm drops a possessive ("today's market" is about the market)
// and marks as stopwords the contractions ("can't", "it's") and adverbs in
// -ly, which do not name topics.
func englishForm(w string) (string, bool) {
	w = strings.ReplaceAll(w, "’", "'")
	if base, ok := strings.CutSuffix(w, "'s"); ok {
		return base, false
	}
	if strings.ContainsRune(w, '\'') {
		return w, true
	}
	if len(w) > 4 && strings.HasSuffix(w, "ly") && !lyNouns[w] {
		return w, true
	}
	return w, false
}

// edNouns end in -ed without being participles.
var edNouns = map[string]bool{"hundred": true, "speed": true, "bleed": true, "breed": true, "creed": true, "greed": true, "seaweed": true}

// lyNouns end in -ly without being adverbs.
var lyNouns = map[string]bool{
	"family": true, "assembly": true, "supply": true, "anomaly": true, "monopoly": true, "reply": true,
	"italy": true, "july": true, "rally": true, "jelly": true, "belly": true, "bully": true, "lily": true,
	"homily": true, "ally": true, "fly": true, "butterfly": true, "dragonfly": true, "firefly": true,
	"holy": true, "ugly": true, "early": true, "only": false, "daily": true, "weekly": true, "monthly": true,
	"quarterly": true, "yearly": true, "friendly": true, "lovely": true, "costly": true, "likely": false,
}

// elide drops French elided articles and pronouns ("l'", "d'", "j'",
// "qu'"...), so "l'étiquette" is the word "étiquette".
func elide(w string) string {
	for _, p := range []string{"l'", "d'", "j'", "n'", "m'", "s'", "t'", "c'", "qu'", "l’", "d’", "j’", "n’", "m’", "s’", "t’", "c’", "qu’"} {
		if rest, ok := strings.CutPrefix(w, p); ok && rest != "" {
			return rest
		}
	}
	return w
}

// germanStem strips the common inflectional endings of German, enough for
// "Bestellung" and "Bestellungen" to count as one word.
func germanStem(w string) string {
	w = strings.NewReplacer("ä", "a", "ö", "o", "ü", "u", "ß", "ss").Replace(w)
	for _, suf := range []string{"ungen", "ung", "heiten", "heit", "keiten", "keit", "ern", "em", "en", "er", "es", "e", "n", "s"} {
		if len(w)-len(suf) >= 4 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}
