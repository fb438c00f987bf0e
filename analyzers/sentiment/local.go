package sentiment

import (
	_ "embed"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// mailsift's own additions: support vocabulary for English, and lexicons
// for the other languages text extraction handles.
var (
	//go:embed lexicon/support-en.tsv
	supportEnglish string
	//go:embed lexicon/de.tsv
	lexiconGerman string
	//go:embed lexicon/fr.tsv
	lexiconFrench string
	//go:embed lexicon/es.tsv
	lexiconSpanish string
	// The VADER emoji lexicon (MIT): an emoji's description, whose words
	// the lexicon then scores.
	//go:embed lexicon/emoji.tsv
	emojiLexicon string
)

// Languages lists the languages the local backend has a lexicon for.
var Languages = []string{"de", "en", "es", "fr"}

// LocalOptions choose the local model's variant.
type LocalOptions struct {
	// Additions turns on what mailsift adds to VADER: support vocabulary,
	// German, French and Spanish, emoji, negation and "but" in any case,
	// "no" as a negation, inflected forms of lexicon words ("refunded"),
	// and punctuation of any script. Off, the model is VADER as published.
	Additions bool
	// ReferenceLexicon leaves out the three entries (heart, hearts,
	// flawed) that the current VADER lexicon has and the one NLTK ships
	// does not, so that scores can be held against NLTK's outputs.
	ReferenceLexicon bool
	// Learned (with Additions) scores English messages with the learned
	// layer (learned.go) over the rules' readings instead of the rules'
	// score alone. Sentence scores stay the rules'.
	Learned bool
}

// Local is the offline VADER-class model. It is safe for concurrent use.
type Local struct {
	opts  LocalOptions
	rules map[string]*rules
	emoji map[rune]string
	// afinn is the second English lexicon the learned layer reads.
	afinn       map[string]float64
	afinnStarts map[string]int // see phraseStarts
	model       *LearnedModel
	modelErr    error
}

// NewLocal builds the local model from the embedded lexicons.
func NewLocal(o LocalOptions) *Local {
	l := &Local{opts: o, rules: map[string]*rules{}, emoji: map[rune]string{}}
	en := englishRules(o.Additions)
	if o.ReferenceLexicon {
		for _, w := range []string{"heart", "hearts", "flawed"} {
			delete(en.lexicon, w)
		}
	}
	l.rules["en"] = en
	if !o.Additions {
		return l
	}
	en.foldCase = true
	en.unicodePunct = true
	en.inflection = true
	en.noNegates = true
	readLexicon(supportEnglish, en.lexicon, false)
	l.afinn = map[string]float64{}
	readLexicon(afinnEnglish, l.afinn, false)
	l.afinnStarts = phraseStarts(l.afinn)
	if o.Learned {
		l.model, l.modelErr = parseLearned(learnedEnglish)
	}
	l.rules["de"] = otherRules(lexiconGerman, germanBoosters, set("nicht", "kein", "keine", "keinen", "keinem", "keiner", "nie", "niemals", "nichts", "ohne", "weder", "noch nie"), set("aber", "jedoch", "allerdings", "doch"))
	l.rules["fr"] = otherRules(lexiconFrench, frenchBoosters, set("pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "plus"), set("mais", "cependant", "pourtant", "toutefois"))
	l.rules["es"] = otherRules(lexiconSpanish, spanishBoosters, set("no", "nunca", "jamás", "nada", "ningún", "ninguno", "ninguna", "sin", "ni", "tampoco"), set("pero", "sin embargo", "aunque"))
	for _, line := range strings.Split(emojiLexicon, "\n") {
		e, desc, ok := strings.Cut(line, "\t")
		r, n := utf8.DecodeRuneInString(e)
		if ok && n == len(e) {
			l.emoji[r] = desc
		}
	}
	for _, r := range l.rules {
		r.phraseStarts = phraseStarts(r.lexicon)
	}
	return l
}

// phraseStarts maps the first word of each phrase of lex to the longest
// phrase it starts, in words: phrases are looked for only at the words
// that start one.
func phraseStarts(lex map[string]float64) map[string]int {
	starts := map[string]int{}
	for w := range lex {
		first, _, ok := strings.Cut(w, phraseJoin)
		if n := strings.Count(w, phraseJoin) + 1; ok && n > starts[first] {
			starts[first] = n
		}
	}
	return starts
}

var germanBoosters = words(boostIncr, "sehr", "extrem", "total", "absolut", "wirklich", "echt", "besonders", "völlig", "äußerst", "unglaublich", "höchst", "so", "zu", "richtig", "komplett", "ziemlich").
	with(boostDecr, "etwas", "kaum", "leicht", "wenig", "bisschen", "ein bisschen", "eher")
var frenchBoosters = words(boostIncr, "très", "vraiment", "extrêmement", "totalement", "absolument", "trop", "tellement", "si", "complètement", "particulièrement", "super", "hyper").
	with(boostDecr, "peu", "un peu", "légèrement", "assez", "plutôt", "presque")
var spanishBoosters = words(boostIncr, "muy", "realmente", "extremadamente", "totalmente", "absolutamente", "demasiado", "tan", "completamente", "super", "súper", "increíblemente", "sumamente").
	with(boostDecr, "poco", "un poco", "algo", "apenas", "ligeramente", "bastante", "casi")

func otherRules(lexicon string, boosters weights, negate, but map[string]bool) *rules {
	lex := map[string]float64{}
	readLexicon(lexicon, lex, false)
	return &rules{lexicon: lex, boosters: boosters, negate: negate, but: but, idioms: map[string]float64{}, soThis: map[string]bool{}, foldCase: true, unicodePunct: true}
}

// Err reports an embedded learned model that does not fit the code's
// features (regenerate it with `go run ./eval -train-sentiment`).
func (l *Local) Err() error { return l.modelErr }

// Has reports whether the local model has a lexicon for lang.
func (l *Local) Has(lang string) bool { return l.rules[lang] != nil }

// Score is VADER's compound score of one text in lang (-1..1); 0 for a
// language without a lexicon.
func (l *Local) Score(text, lang string) float64 {
	r := l.rules[lang]
	if r == nil {
		return 0
	}
	return r.score(l.prepare(text, r)).Compound
}

// prepare adds emoji descriptions and joins lexicon phrases into single
// tokens (with the additions on).
func (l *Local) prepare(text string, r *rules) string {
	if !l.opts.Additions {
		return text
	}
	var sb strings.Builder
	hasEmoji := false
	for _, c := range text {
		if c >= 0x2000 && l.emoji[c] != "" {
			hasEmoji = true
			break
		}
	}
	if hasEmoji {
		for _, c := range text {
			if d := l.emoji[c]; c >= 0x2000 && d != "" {
				sb.WriteString(" " + d + " ")
				continue
			}
			sb.WriteRune(c)
		}
		text = sb.String()
	}
	return l.joinPhrases(text, r)
}

// phraseJoin stands for the space inside a phrase token; lexicon phrases
// are stored with it (see readLexicon).
const phraseJoin = "_"

// joinPhrases rewrites the longest lexicon phrase at each word into one
// token ("still waiting" -> "still_waiting"), so the
// rules treat it as one word with its own valence.
func (l *Local) joinPhrases(text string, r *rules) string {
	if r.phraseStarts == nil {
		return text
	}
	f := strings.Fields(text)
	norm := make([]string, len(f))
	for i, w := range f {
		norm[i] = strings.ToLower(trimPunct(w))
	}
	out := make([]string, 0, len(f))
	var key strings.Builder
	for i := 0; i < len(f); i++ {
		longest := r.phraseStarts[norm[i]]
		best := 0
		if longest > 1 {
			key.Reset()
			key.WriteString(norm[i])
			for n := 2; n <= longest && i+n <= len(f); n++ {
				// A phrase does not cross a sentence end.
				if endsClause(f[i+n-2]) {
					break
				}
				key.WriteString(phraseJoin)
				key.WriteString(norm[i+n-1])
				if _, ok := r.lexicon[key.String()]; ok {
					best = n
				}
			}
		}
		if best == 0 {
			out = append(out, f[i])
			continue
		}
		// Keep the trailing punctuation of the phrase's last word.
		last := f[i+best-1]
		tail := last[len(strings.TrimRightFunc(last, unicode.IsPunct)):]
		out = append(out, strings.Join(norm[i:i+best], phraseJoin)+tail)
		i += best - 1
	}
	return strings.Join(out, " ")
}

func endsClause(w string) bool {
	r, _ := utf8.DecodeLastRuneInString(w)
	return r == '.' || r == '!' || r == '?' || r == ',' || r == ';' || r == ':'
}

func trimPunct(w string) string {
	t := strings.TrimFunc(w, func(r rune) bool { return unicode.IsPunct(r) && r != '\'' && r != '-' })
	if t == "" {
		return w
	}
	return t
}

// Sentence is one sentence and its score.
type Sentence struct {
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

// Assessment is the local model's reading of a message.
type Assessment struct {
	Score float64
	// Rules is the rule model's score of the whole; Score is the learned
	// layer's when it applies (English, LocalOptions.Learned), else Rules.
	Rules     float64
	Sentences []Sentence
}

// Assess scores each sentence of text and the whole. The whole is VADER's
// normalised sum of the sentences' valences; past three sentences that
// carry any, the sum is divided by the square root of their number over
// three. A short text scores as VADER scores it, a long mail does not
// saturate at -1 or 1 merely for being long, and neutral sentences do not
// dilute an angry one.
func (l *Local) Assess(text, lang string) Assessment {
	r := l.rules[lang]
	if r == nil {
		return Assessment{}
	}
	a, ss, vs := l.assess(r, text)
	if l.model != nil && lang == "en" {
		a.Score = round(l.model.Score(l.features(r, ss, vs, a.Rules)), 4)
	}
	return a
}

func (l *Local) assess(r *rules, text string) (Assessment, []string, []vaderScores) {
	var a Assessment
	var sum float64
	n := 0
	ss := Sentences(text)
	vs := make([]vaderScores, len(ss))
	for i, s := range ss {
		v := r.score(l.prepare(s, r))
		vs[i] = v
		a.Sentences = append(a.Sentences, Sentence{Text: s, Score: v.Compound})
		if v.sum != 0 {
			sum += v.sum
			n++
		}
	}
	if n > 0 {
		a.Rules = round(normalize(sum/math.Sqrt(max(1, float64(n)/sentencesFree)), r.alpha), 4)
	}
	a.Score = a.Rules
	return a, ss, vs
}

// Features are the learned layer's inputs for an English text (see
// FeatureNames), for training it; nil without the additions.
func (l *Local) Features(text string) []float64 {
	if !l.opts.Additions {
		return nil
	}
	r := l.rules["en"]
	a, ss, vs := l.assess(r, text)
	return l.features(r, ss, vs, a.Rules)
}

// Sentences splits text into sentences: at blank lines, and after ".",
// "!", "?" (and runs of them) followed by a blank and not part of a common
// abbreviation or a number. Lines within a paragraph are joined, since
// mail wraps them.
func Sentences(text string) []string {
	var out []string
	for _, para := range strings.Split(text, "\n\n") {
		p := strings.Join(strings.Fields(para), " ")
		start := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c != '.' && c != '!' && c != '?' {
				continue
			}
			j := i
			for j+1 < len(p) && (p[j+1] == '.' || p[j+1] == '!' || p[j+1] == '?') {
				j++
			}
			if j+1 < len(p) && p[j+1] != ' ' {
				i = j
				continue
			}
			if c == '.' && j == i && abbreviation(p[start:i]) {
				continue
			}
			if s := strings.TrimSpace(p[start : j+1]); s != "" {
				out = append(out, s)
			}
			start = j + 1
			i = j
		}
		if s := strings.TrimSpace(p[start:]); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var abbreviations = set("mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no", "nr", "z.b", "bzw", "ca", "usw", "dh", "d.h", "mme", "m", "sr", "sra", "p.ej", "approx")

func abbreviation(before string) bool {
	i := strings.LastIndexByte(before, ' ')
	w := strings.ToLower(before[i+1:])
	if w == "" {
		return false
	}
	if abbreviations[w] {
		return true
	}
	// An initial ("J. Smith").
	r, n := utf8.DecodeRuneInString(w)
	return n == len(w) && unicode.IsLetter(r)
}

// label maps a score to negative, neutral or positive.
func label(score, neg, pos float64) string {
	switch {
	case score <= -math.Abs(neg):
		return LabelNegative
	case score >= math.Abs(pos):
		return LabelPositive
	}
	return LabelNeutral
}

// Labels.
const (
	LabelNegative = "negative"
	LabelNeutral  = "neutral"
	LabelPositive = "positive"
	LabelUnknown  = "unknown"
)

// sentencesFree is how many sentences with sentiment a text may have before
// their sum is damped: up to it a text scores as VADER scores it whole.
const sentencesFree = 3.0
