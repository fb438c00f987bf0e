package sentiment

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rule model of Hutto & Gilbert, "VADER: A Parsimonious Rule-based
// Model for Sentiment Analysis of Social Media Text" (ICWSM 2014): a
// valence lexicon, and rules for what the paper found changes a word's
// valence: negation, degree adverbs, capitals, "but", and exclamation and
// question marks. The constants are the paper's empirically derived
// increments. Where the paper leaves a detail open, the rule follows the
// reference outputs that ship with the evaluation, so that scores are
// comparable with published ones (conformance is measured by `make eval`).
const (
	boostIncr   = 0.293  // a degree adverb ("very") adds this to a word's valence
	boostDecr   = -0.293 // a dampener ("slightly") takes it off
	capsIncr    = 0.733  // a word in capitals among lower-case ones
	negScalar   = -0.74  // a negated word's valence is flipped and scaled
	alpha       = 15     // normalises the sum of valences to -1..1
	butBefore   = 0.5    // valences before "but" count half...
	butAfter    = 1.5    // ...and after it one and a half times
	exclIncr    = 0.292  // per exclamation mark, up to four
	exclMax     = 4
	questIncr   = 0.18 // per question mark when there are two or three
	questMax    = 0.96 // with four or more
	lookBack    = 3    // words before a lexicon word that can modify it
	dampenFar1  = 0.95 // a modifier two words back counts a little less
	dampenFar2  = 0.9  // and three words back less still
	neverSoMult = 1.25 // "never so good": emphasis, not negation
	// neverSoNear is what the reference multiplies by when "never so" is
	// right before the word; mailsift's additions use neverSoMult there too,
	// as the rules' author's later code does.
	neverSoNear = 1.5
)

// punctAround is what the reference tokenizer strips from a word's ends:
// one of these, before or after the word.
var punctAround = []string{".", "!", "?", ",", ";", ":", "-", "'", "\"", "!!", "!!!", "??", "???", "?!?", "!?!", "?!?!", "!?!?", "?!?!?", "!?!?!", "?!?!?!", "!?!?!?"}

// rules are the word lists the VADER rules consult for one language.
type rules struct {
	lexicon  map[string]float64
	boosters weights
	negate   map[string]bool
	// negSuffix marks a contraction that negates ("n't").
	negSuffix string
	// foldCase makes negations and "but" match in any case. The reference
	// matches them as written, so "DON'T" and "But" pass unnoticed.
	foldCase bool
	// unicodePunct strips punctuation of any script from a token's ends,
	// not only ASCII.
	unicodePunct bool
	// noNegates makes "no" a negation (the reference treats it as a word
	// of negative valence only).
	noNegates bool
	// inflection lets word() find a token's base form.
	inflection bool
	// phraseStarts maps the first word of each lexicon phrase to the
	// longest phrase it starts, in words.
	phraseStarts map[string]int
	// alpha normalises the sum of valences to -1..1; 0 means the paper's.
	alpha float64
	// idioms replace the valence of a word they contain.
	idioms map[string]float64
	// but are the words that shift weight to what follows.
	but map[string]bool
	// butByValue reproduces how the reference finds each valence it
	// reweighs around "but": by searching the list for the first equal
	// value, so that of two equal valences the first is reweighed twice
	// and the second not at all. Only the conformance baseline does this.
	butByValue bool
	// never, so: "never so", "never this" emphasise instead of negating.
	never  string
	soThis map[string]bool
	// neverSo multiplies a word right after "never so"; 0 is neverSoMult.
	neverSo float64
	// least negates ("the least useful") except after atLeast ("at least").
	least   string
	atLeast []string
}

// vaderScores are VADER's four outputs.
type vaderScores struct {
	Neg, Neu, Pos, Compound float64
	// valences are the per-token valences after the rules, for the
	// sentences that drove a score.
	tokens   []string
	lower    []string // tokens in lower case
	valences []float64
	// sum is the sum of valences with punctuation emphasis, before
	// normalisation.
	sum float64
}

func normalize(s, a float64) float64 {
	if a == 0 {
		a = alpha
	}
	n := s / math.Sqrt(s*s+a)
	return max(-1, min(1, n))
}

// isUpper is Python's str.isupper: some cased letter, none lower case.
func isUpper(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			cased = true
		}
	}
	return cased
}

// isStrippable is punctuation around a word, but not the marks of a
// handle or tag (@name, #topic) nor of an HTML entity, which are not
// words.
func isStrippable(r rune) bool {
	return unicode.IsPunct(r) && r != '#' && r != '@' && r != '&'
}

func isASCIIPunct(r rune) bool {
	return r < 128 && unicode.IsPunct(r) || strings.ContainsRune("$+<=>^`|~", r)
}

// tokens splits text as the reference does: on blanks, dropping one-letter
// tokens, and stripping one punctuation run from either end of a token when
// what remains is a word of the text.
func tokens(text string, unicodePunct bool) []string {
	var words map[string]bool
	if !unicodePunct {
		words = map[string]bool{}
		noPunct := strings.Map(func(r rune) rune {
			if isASCIIPunct(r) {
				return -1
			}
			return r
		}, text)
		for _, w := range strings.Fields(noPunct) {
			if utf8.RuneCountInString(w) > 1 {
				words[w] = true
			}
		}
	}
	var out []string
	for _, t := range strings.Fields(text) {
		if utf8.RuneCountInString(t) <= 1 {
			continue
		}
		if unicodePunct {
			// Strip any punctuation run from the ends when a word of two
			// or more letters remains, so "¡genial!" and «mauvais» are
			// found; emoticons like ":)" stay whole.
			if s := strings.TrimFunc(t, isStrippable); utf8.RuneCountInString(s) > 1 {
				t = s
			}
			out = append(out, t)
			continue
		}
		out = append(out, stripPunct(t, words))
	}
	return out
}

func stripPunct(t string, words map[string]bool) string {
	for _, p := range punctAround {
		if rest, ok := strings.CutPrefix(t, p); ok && words[rest] {
			return rest
		}
		if rest, ok := strings.CutSuffix(t, p); ok && words[rest] {
			return rest
		}
	}
	return t
}

// score applies the VADER rules to text.
func (r *rules) score(text string) vaderScores {
	toks := tokens(text, r.unicodePunct)
	lower := make([]string, len(toks))
	upper := 0
	for i, t := range toks {
		lower[i] = strings.ToLower(t)
		if isUpper(t) {
			upper++
		}
	}
	capDiff := upper > 0 && upper < len(toks)
	// The reference looks a token up by its first occurrence, so a repeated
	// word is judged in the context of its first appearance.
	sent := make([]float64, 0, len(toks))
	for k, t := range toks {
		// A sentence is short: a scan back beats a map.
		i := k
		for j := 0; j < k; j++ {
			if toks[j] == t {
				i = j
				break
			}
		}
		lt := lower[i]
		if _, ok := r.boosters[lt]; ok || (i < len(toks)-1 && lt == "kind" && lower[i+1] == "of") {
			sent = append(sent, 0)
			continue
		}
		// "no" before a lexicon word negates it ("no complaints") and has
		// no valence of its own there.
		if r.noNegates && lt == "no" && i < len(toks)-1 {
			if _, ok := r.word(lower[i+1]); ok {
				sent = append(sent, 0)
				continue
			}
		}
		sent = append(sent, r.valence(toks, lower, i, capDiff))
	}
	switch {
	case r.foldCase:
		r.butCheck(lower, sent)
	case r.butByValue:
		r.butCheckByValue(toks, sent)
	default:
		r.butCheck(toks, sent)
	}
	out := r.combine(text, toks, sent)
	out.lower = lower
	return out
}

func (r *rules) valence(toks, lower []string, i int, capDiff bool) float64 {
	v, ok := r.word(lower[i])
	if !ok {
		return 0
	}
	if capDiff && isUpper(toks[i]) {
		if v > 0 {
			v += capsIncr
		} else {
			v -= capsIncr
		}
	}
	// "no" is itself a lexicon word, which the loop below passes over as a
	// modifier; as a negation it counts just before the word.
	if r.noNegates && i > 0 && lower[i-1] == "no" {
		v *= negScalar
	}
	for back := 0; back < lookBack; back++ {
		j := i - back - 1
		if j < 0 {
			break
		}
		if _, known := r.word(lower[j]); known {
			continue
		}
		s := r.boost(toks[j], lower[j], v, capDiff)
		switch {
		case back == 1 && s != 0:
			s *= dampenFar1
		case back == 2 && s != 0:
			s *= dampenFar2
		}
		v += s
		v = r.negation(toks, lower, v, back, i)
		if back == 2 {
			v = r.idiom(toks, lower, v, i)
		}
	}
	return r.leastCheck(lower, v, i)
}

func (r *rules) boost(tok, low string, v float64, capDiff bool) float64 {
	b, ok := r.boosters[low]
	if !ok {
		return 0
	}
	if v < 0 {
		b = -b
	}
	if capDiff && isUpper(tok) {
		if v > 0 {
			b += capsIncr
		} else {
			b -= capsIncr
		}
	}
	return b
}

func (r *rules) negated(tok string) bool {
	if r.foldCase {
		tok = strings.ToLower(tok)
	}
	return r.negatedAsIs(tok)
}

// negatedAsIs is negated without folding case, for a token already folded.
func (r *rules) negatedAsIs(tok string) bool {
	if r.noNegates && tok == "no" {
		return true
	}
	return r.negate[tok] || (r.negSuffix != "" && strings.Contains(tok, r.negSuffix))
}

// at indexes like Python: a negative index counts from the end.
func at(s []string, i int) string {
	if i < 0 {
		i += len(s)
	}
	if i < 0 || i >= len(s) {
		return ""
	}
	return s[i]
}

func (r *rules) negation(toks, lower []string, v float64, back, i int) float64 {
	switch back {
	case 0:
		if r.negated(toks[i-1]) {
			v *= negScalar
		}
	case 1:
		if toks[i-2] == r.never && r.soThis[toks[i-1]] {
			if r.neverSo != 0 {
				v *= r.neverSo
			} else {
				v *= neverSoMult
			}
		} else if r.negated(toks[i-2]) {
			v *= negScalar
		}
	case 2:
		if at(toks, i-3) == r.never && (r.soThis[toks[i-2]] || r.soThis[toks[i-1]]) || r.soThis[toks[i-1]] {
			v *= neverSoMult
		} else if r.negated(at(toks, i-3)) {
			v *= negScalar
		}
	}
	return v
}

func (r *rules) idiom(toks, lower []string, v float64, i int) float64 {
	w := func(k int) string { return at(toks, k) }
	seqs := []string{
		w(i-1) + " " + w(i),
		w(i-2) + " " + w(i-1) + " " + w(i),
		w(i-2) + " " + w(i-1),
		w(i-3) + " " + w(i-2) + " " + w(i-1),
		w(i-3) + " " + w(i-2),
	}
	for _, s := range seqs {
		if iv, ok := r.idioms[s]; ok {
			v = iv
			break
		}
	}
	if len(toks)-1 > i {
		if iv, ok := r.idioms[w(i)+" "+w(i+1)]; ok {
			v = iv
		}
	}
	if len(toks)-1 > i+1 {
		if iv, ok := r.idioms[w(i)+" "+w(i+1)+" "+w(i+2)]; ok {
			v = iv
		}
	}
	if _, ok := r.boosters[seqs[4]]; ok {
		v += boostDecr
	} else if _, ok := r.boosters[seqs[2]]; ok {
		v += boostDecr
	}
	return v
}

func (r *rules) leastCheck(lower []string, v float64, i int) float64 {
	if r.least == "" || i < 1 || lower[i-1] != r.least {
		return v
	}
	if _, known := r.lexicon[lower[i-1]]; known {
		return v
	}
	if i > 1 {
		for _, a := range r.atLeast {
			if lower[i-2] == a {
				return v
			}
		}
	}
	return v * negScalar
}

// butCheck halves what comes before the first "but" and strengthens what
// follows it: the clause after "but" is what the writer means.
func (r *rules) butCheck(lower []string, sent []float64) {
	bi := -1
	for i, w := range lower {
		if r.but[w] {
			bi = i
			break
		}
	}
	if bi < 0 {
		return
	}
	for i := range sent {
		switch {
		case i < bi:
			sent[i] *= butBefore
		case i > bi:
			sent[i] *= butAfter
		}
	}
}

// butCheckByValue is butCheck as the reference does it (see butByValue):
// for each position in turn, the first position holding the same value is
// the one reweighed. "but" itself is looked for as written, then as "BUT".
func (r *rules) butCheckByValue(toks []string, sent []float64) {
	bi := slices.Index(toks, "but")
	if bi < 0 {
		bi = slices.Index(toks, "BUT")
	}
	if bi < 0 {
		return
	}
	for k := range sent {
		v := sent[k]
		switch si := slices.Index(sent, v); {
		case si < bi:
			sent[si] = v * butBefore
		case si > bi:
			sent[si] = v * butAfter
		}
	}
}

func (r *rules) combine(text string, toks []string, sent []float64) vaderScores {
	out := vaderScores{tokens: toks, valences: sent}
	if len(sent) == 0 {
		return out
	}
	var sum float64
	for _, s := range sent {
		sum += s
	}
	emph := punctuationEmphasis(text)
	if sum > 0 {
		sum += emph
	} else if sum < 0 {
		sum -= emph
	}
	out.sum = sum
	out.Compound = round(normalize(sum, r.alpha), 4)
	var pos, neg, neu float64
	for _, s := range sent {
		switch {
		case s > 0:
			pos += s + 1
		case s < 0:
			neg += s - 1
		default:
			neu++
		}
	}
	if pos > math.Abs(neg) {
		pos += emph
	} else if pos < math.Abs(neg) {
		neg -= emph
	}
	total := pos + math.Abs(neg) + neu
	out.Pos = round(math.Abs(pos/total), 3)
	out.Neg = round(math.Abs(neg/total), 3)
	out.Neu = round(math.Abs(neu/total), 3)
	return out
}

func punctuationEmphasis(text string) float64 {
	e := min(strings.Count(text, "!"), exclMax)
	q := strings.Count(text, "?")
	qa := 0.0
	switch {
	case q > 3:
		qa = questMax
	case q > 1:
		qa = float64(q) * questIncr
	}
	return float64(e)*exclIncr + qa
}

// round rounds half to even, as the reference's round() does on the
// nearest binary value.
func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.RoundToEven(v*p) / p
}

// readLexicon parses "word<TAB>valence" lines. A phrase's spaces become
// "_", the way joinPhrases writes it as one token. Keys are lower case,
// since tokens are looked up in lower case, and of two entries of one key
// the later counts, as in the reference outputs: VADER's lexicon has 23
// keys twice, emoticons in two cases (":p" 1.0, ":P" 1.4) and
// abbreviations both in its emoticon block and among the words ("lol"
// 2.9, then 1.8). With keepFrowns, an entry does not replace one of the
// opposite sign: "d:" and "d=" are the frowns "D:" and "D=" (-2.9, -3.0)
// in the emoticon block, and something else among the words (1.2, 1.5),
// so "D:" read as a smile.
func readLexicon(data string, into map[string]float64, keepFrowns bool) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w, v, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, "\t")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		k := strings.ReplaceAll(strings.ToLower(w), " ", "_")
		if old, seen := into[k]; seen && keepFrowns && old*f < 0 {
			continue
		}
		into[k] = f
	}
}

// word looks a lower-case token up in the lexicon, and with inflection
// set, its base form when the token is an inflection the lexicon lacks
// ("disappoints", "refunded", "hated").
func (r *rules) word(w string) (float64, bool) {
	if v, ok := r.lexicon[w]; ok {
		return v, true
	}
	if !r.inflection || len(w) < 4 {
		return 0, false
	}
	// Letters drawn out for emphasis ("sooo goood", "pleeease"): the word
	// with its runs cut to two letters, then one, counts a degree more.
	if b := squeeze(w, 2); b != w {
		for _, c := range []string{b, squeeze(w, 1)} {
			if v, ok := r.lexicon[c]; ok {
				if v > 0 {
					return v + elongIncr, true
				}
				return v - elongIncr, true
			}
		}
	}
	if len(w) < 5 {
		return 0, false
	}
	for _, sfx := range inflections {
		base, ok := strings.CutSuffix(w, sfx.cut)
		if !ok {
			continue
		}
		if v, ok := r.lexicon[base+sfx.add]; ok {
			return v * inflectionWeight, true
		}
	}
	return 0, false
}

const inflectionWeight = 0.9

var inflections = []struct{ cut, add string }{
	{"ies", "y"}, {"es", ""}, {"s", ""}, {"ied", "y"}, {"ed", ""}, {"ed", "e"},
}

// elongIncr is what drawing a word out adds, a degree adverb's worth.
const elongIncr = boostIncr

// squeeze cuts every run of one letter longer than three to n letters;
// shorter runs are how words are spelled.
func squeeze(w string, n int) string {
	rs := []rune(w)
	out := make([]rune, 0, len(rs))
	changed := false
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs) && rs[j] == rs[i] {
			j++
		}
		if j-i >= 3 {
			out = append(out, rs[i:i+n]...)
			changed = true
		} else {
			out = append(out, rs[i:j]...)
		}
		i = j
	}
	if !changed {
		return w
	}
	return string(out)
}
