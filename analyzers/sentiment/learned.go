package sentiment

import (
	"bufio"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The learned layer: a ridge regression over what the rules see in a
// message, trained on VADER's human-rated sets (`go run ./eval
// -train-sentiment`), which writes lexicon/learned-en.tsv. It applies to
// English only: its features include an English second lexicon and it was
// trained on English ratings; German, French and Spanish keep the rules.
var (
	// AFINN-en-165 (Finn Årup Nielsen, ODbL 1.0 / Apache-2.0; see
	// lexicon/NOTICE-afinn.txt): a second valence lexicon, -5..5, whose
	// disagreements with VADER's the regression can weigh.
	//go:embed lexicon/afinn-en.tsv
	afinnEnglish string
	//go:embed lexicon/learned-en.tsv
	learnedEnglish string
)

// FeatureNames name the learned layer's inputs, in the order Features
// returns them and lexicon/learned-en.tsv lists their weights. The
// training items are one or two sentences; so that a 5 KB mail is not
// read far outside what they spanned, counts are taken per sentence and
// sums are damped past three sentences as the rules' score is.
var FeatureNames = []string{
	"rules",       // the rule model's message score (Assess without the layer)
	"rules3",      // its cube: ratings are not linear in it
	"valence",     // asinh of the summed valence before VADER's normalisation, which saturates
	"afinn",       // the AFINN sum, negation-aware, normalised as VADER's
	"afinn_raw",   // its asinh
	"afinn_pos",   // log(1 + positive AFINN words a sentence)
	"afinn_neg",   // log(1 + negative AFINN words a sentence)
	"negations",   // log(1 + negations a sentence)
	"exclaim",     // log(1 + "!" a sentence)
	"question",    // log(1 + "?" a sentence)
	"length",      // log(1 + tokens a sentence)
	"rules_x_len", // the rules' score times length: a long text is rated more calmly
}

// LearnedModel is the learned layer: a linear model over standardised
// features (FeatureNames) whose prediction is a human rating (-4..4),
// mapped to a score in -1..1. lexicon/learned-en.tsv holds it; the eval
// fits it with this type, so that training and the analyzer predict alike.
type LearnedModel struct {
	Mean, Scale, Weight []float64
	Bias, Gain          float64
}

// parseLearned reads lexicon/learned-en.tsv: "name<TAB>mean<TAB>scale<TAB>weight"
// per feature, and "bias<TAB>value" and "gain<TAB>value" lines.
func parseLearned(data string) (*LearnedModel, error) {
	m := &LearnedModel{}
	idx := map[string]int{}
	for i, n := range FeatureNames {
		idx[n] = i
	}
	m.Mean = make([]float64, len(FeatureNames))
	m.Scale = make([]float64, len(FeatureNames))
	m.Weight = make([]float64, len(FeatureNames))
	seen := make([]bool, len(FeatureNames))
	sawBias, sawGain := false, false
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if (f[0] == "bias" || f[0] == "gain") && len(f) == 2 {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return nil, fmt.Errorf("learned model: %s: %w", f[0], err)
			}
			if f[0] == "bias" {
				m.Bias, sawBias = v, true
			} else {
				m.Gain, sawGain = v, true
			}
			continue
		}
		i, ok := idx[f[0]]
		if !ok || len(f) != 4 {
			return nil, fmt.Errorf("learned model: line %q: unknown feature or not 4 fields", line)
		}
		for k, dst := range []*float64{&m.Mean[i], &m.Scale[i], &m.Weight[i]} {
			v, err := strconv.ParseFloat(f[k+1], 64)
			if err != nil {
				return nil, fmt.Errorf("learned model: %s: %w", f[0], err)
			}
			*dst = v
		}
		if m.Scale[i] == 0 {
			return nil, fmt.Errorf("learned model: %s: scale 0", f[0])
		}
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("learned model: no weight for feature %s", FeatureNames[i])
		}
	}
	if !sawBias || !sawGain || m.Gain <= 0 {
		return nil, fmt.Errorf("learned model: no bias or no positive gain")
	}
	return m, nil
}

// Rating is the human rating predicted from features x.
func (m *LearnedModel) Rating(x []float64) float64 {
	y := m.Bias
	for i, v := range x {
		y += m.Weight[i] * (v - m.Mean[i]) / m.Scale[i]
	}
	return y
}

// Score maps the rating to -1..1 with tanh, which keeps the order of
// strong readings where a clamp would tie them at -1: a desk sorts angry
// mail by score.
func (m *LearnedModel) Score(x []float64) float64 {
	return math.Tanh(m.Gain * m.Rating(x))
}

// features computes FeatureNames for a text from its sentences' rule
// readings and the rule score of the whole.
func (l *Local) features(r *rules, ss []string, vs []vaderScores, ruleScore float64) []float64 {
	var valence, afinn float64
	var nTok, nNeg, nExcl, nQuest, nValenced, nAfinn, afPos, afNeg int
	var key []byte // afinnAt's buffer, kept across words
	for k, v := range vs {
		if v.sum != 0 {
			valence += v.sum
			nValenced++
		}
		nTok += len(v.tokens)
		nExcl += strings.Count(ss[k], "!")
		nQuest += strings.Count(ss[k], "?")
		var sentAfinn float64
		// One pass tests each word for negation once: an AFINN entry is
		// negated when the last negation before it is within lookBack
		// words. Words inside an entry matched are not entries of their
		// own, but they count as negations.
		lastNeg, inEntry := -lookBack-1, 0
		for i, t := range v.lower {
			if inEntry > 0 {
				inEntry--
			} else if a, n := l.afinnAt(v.lower, i, &key); n > 0 {
				if lastNeg >= i-lookBack {
					a *= negScalar
				}
				sentAfinn += a
				if a > 0 {
					afPos++
				} else if a < 0 {
					afNeg++
				}
				inEntry = n - 1
			}
			// The layer reads English with the additions, whose rules
			// fold case: t is already folded.
			if r.negatedAsIs(t) {
				nNeg++
				lastNeg = i
			}
		}
		if sentAfinn != 0 {
			afinn += sentAfinn
			nAfinn++
		}
	}
	// The same damping of many sentences as the rules' score.
	valence /= math.Sqrt(max(1, float64(nValenced)/sentencesFree))
	afinn /= math.Sqrt(max(1, float64(nAfinn)/sentencesFree))
	per := func(n int) float64 { return math.Log1p(float64(n) / float64(max(1, len(vs)))) }
	length := per(nTok)
	return []float64{
		ruleScore,
		ruleScore * ruleScore * ruleScore,
		math.Asinh(valence),
		normalize(afinn, 0),
		math.Asinh(afinn),
		per(afPos),
		per(afNeg),
		per(nNeg),
		per(nExcl),
		per(nQuest),
		length,
		ruleScore * length,
	}
}

// afinnAt is the AFINN valence of the longest entry starting at word i
// (entries have up to three words) and its length in words; 0 words when
// none starts there. key is a buffer for the joined words of a phrase,
// which a map lookup reads without copying.
func (l *Local) afinnAt(lower []string, i int, key *[]byte) (float64, int) {
	w := trimPunct(lower[i])
	v, ok := l.afinn[w]
	best := 0
	if ok {
		best = 1
	}
	if longest := min(l.afinnStarts[w], len(lower)-i); longest > 1 {
		k := append((*key)[:0], w...)
		for n := 2; n <= longest; n++ {
			k = append(append(k, phraseJoin...), trimPunct(lower[i+n-1])...)
			if pv, ok := l.afinn[string(k)]; ok {
				v, best = pv, n
			}
		}
		*key = k
	}
	if best == 0 {
		return 0, 0
	}
	return v, best
}
