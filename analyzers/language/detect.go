package language

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/text"
)

// model.bin.gz holds uni-, bi- and trigram log-probabilities of the
// languages told apart by n-grams, derived from lingua-go's models by
// internal/genmodel (see NOTICE).
//
//go:embed model.bin.gz
var modelGz []byte

// Supported lists every language Detect can return, as ISO 639-1 codes.
func Supported() []string {
	m, err := model()
	if err != nil {
		return nil
	}
	out := append([]string(nil), m.langs...)
	out = append(out, "ja", "ko", "zh")
	sort.Strings(out)
	return out
}

// Reasons Detect gives when it cannot tell.
const (
	ReasonTooShort = "too little text"
	ReasonScript   = "script of no supported language"
	ReasonClose    = "two languages fit about as well"
)

// Detection is what Detect found.
type Detection struct {
	// Language is the ISO 639-1 code, or "" when Detect cannot tell.
	Language string `json:"language"`
	// Confidence is the probability of Language among the candidates, 0..1.
	Confidence float64 `json:"confidence"`
	// Script is the writing system most letters are in ("Latin", "Cyrillic"...).
	Script string `json:"script,omitempty"`
	// Reason says why Language is empty.
	Reason string `json:"reason,omitempty"`
	// Alternatives are the next most likely languages, best first.
	Alternatives []Candidate `json:"alternatives,omitempty"`
}

// Candidate is one language with its probability.
type Candidate struct {
	Language   string  `json:"language"`
	Confidence float64 `json:"confidence"`
}

// Limits of the detector.
const (
	// minLetters below which Detect does not guess: a word or two are
	// shared by too many languages.
	minLetters = 8
	// maxLetters read from a text: language shows within the first few
	// hundred letters, and bounding it bounds the cost of a long mail.
	maxLetters = 400
	// Costs, in hundredths of a natural-log unit, of an n-gram a language's
	// trigram table lacks: backing off to the bigram and unigram tables
	// adds a penalty so a language seen with the trigram is preferred, and
	// an n-gram unknown to a language at every order costs the most.
	backoffBigram  = 200
	backoffUnigram = 600
	unseenCost     = 1200
)

type posting struct {
	lang uint8
	cost uint16
}

// table maps an n-gram to its postings as offset<<8 | count.
type table map[string]uint32

type ngramModel struct {
	langs    []string
	index    map[string]int
	postings []posting
	orders   [3]table // uni, bi, tri
}

// model is package-level state, which the project otherwise keeps out of
// packages: it is the embedded model decoded, read-only once built, so
// every detector of a process (the language, sentiment and keywords
// analyzers each build one) shares its 13 MB instead of holding a copy,
// and nothing in it changes with configuration.
var model = sync.OnceValues(loadModel)

// loadModel decodes the embedded model. It is loaded once per process and
// only read afterwards: every analyzer that needs a language shares it.
func loadModel() (*ngramModel, error) {
	zr, err := gzip.NewReader(bytes.NewReader(modelGz))
	if err != nil {
		return nil, fmt.Errorf("language model: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("language model: %w", err)
	}
	const magic = "MSLANG1\n"
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, errors.New("language model: bad magic")
	}
	// Keys are slices of one string, so the tables cost no allocation per
	// n-gram.
	s := string(raw[len(magic):])
	pos := 0
	uvarint := func() (int, error) {
		v, n := binary.Uvarint([]byte(s[pos:min(pos+binary.MaxVarintLen64, len(s))]))
		if n <= 0 {
			return 0, errors.New("language model: truncated")
		}
		pos += n
		return int(v), nil
	}
	str := func() (string, error) {
		n, err := uvarint()
		if err != nil {
			return "", err
		}
		if pos+n > len(s) {
			return "", errors.New("language model: truncated")
		}
		v := s[pos : pos+n]
		pos += n
		return v, nil
	}
	nl, err := uvarint()
	if err != nil {
		return nil, err
	}
	m := &ngramModel{index: map[string]int{}}
	for i := 0; i < nl; i++ {
		l, err := str()
		if err != nil {
			return nil, err
		}
		m.index[l] = len(m.langs)
		m.langs = append(m.langs, l)
	}
	for o := range m.orders {
		n, err := uvarint()
		if err != nil {
			return nil, err
		}
		t := make(table, n)
		for range n {
			k, err := str()
			if err != nil {
				return nil, err
			}
			np, err := uvarint()
			if err != nil {
				return nil, err
			}
			if pos+3*np > len(s) || np > 255 {
				return nil, errors.New("language model: truncated")
			}
			t[k] = uint32(len(m.postings))<<8 | uint32(np)
			for range np {
				m.postings = append(m.postings, posting{lang: s[pos], cost: uint16(s[pos+1]) | uint16(s[pos+2])<<8})
				pos += 3
			}
		}
		m.orders[o] = t
	}
	return m, nil
}

func (m *ngramModel) lookup(order int, k string) []posting {
	v, ok := m.orders[order][k]
	if !ok {
		return nil
	}
	off := v >> 8
	return m.postings[off : off+v&0xff]
}

// Detector tells the language of a text among a set of languages. It is
// safe for concurrent use.
type Detector struct {
	m *ngramModel
	// allowed marks the n-gram languages to consider, by model index.
	allowed []bool
	cjk     map[string]bool
	// key tells this detector's restriction apart in a message's derived
	// values: detectors restricted alike share their detection.
	key detectionKey
}

// detectionKey is the key of a message's detection among its derived
// values: the languages considered, sorted, or "" for all.
type detectionKey struct{ langs string }

// NewDetector returns a detector restricted to langs (ISO 639-1 codes);
// none means every supported language. Restricting helps when a mailbox
// only ever gets a few languages: similar ones (Danish and Norwegian,
// Malay and Indonesian) cannot then be mistaken for each other.
func NewDetector(langs ...string) (*Detector, error) {
	m, err := model()
	if err != nil {
		return nil, err
	}
	d := &Detector{m: m, allowed: make([]bool, len(m.langs)), cjk: map[string]bool{}}
	if len(langs) == 0 {
		for i := range d.allowed {
			d.allowed[i] = true
		}
		d.cjk = map[string]bool{"ja": true, "ko": true, "zh": true}
		return d, nil
	}
	d.key = detectionKey{strings.Join(slices.Sorted(slices.Values(langs)), ",")}
	for _, l := range langs {
		switch l {
		case "ja", "ko", "zh":
			d.cjk[l] = true
			continue
		}
		i, ok := m.index[l]
		if !ok {
			return nil, fmt.Errorf("language %q is not supported (supported: %v)", l, Supported())
		}
		d.allowed[i] = true
	}
	return d, nil
}

// Message returns the detection of the sender's own words in m (see
// analyzers/text); when they are too few to tell, the subject is read with
// them. It is computed once per message for every detector restricted to
// the same languages, so the analyzers of a process that need the language
// detect it once (see analyzers.Message.Derived). The Detection is shared:
// callers must not modify its Alternatives.
func (d *Detector) Message(m *analyzers.Message) Detection {
	return m.Derived(d.key, func() any {
		body := text.FromMessage(m).Text
		det := d.Detect(body)
		if det.Reason == ReasonTooShort && strings.TrimSpace(m.Header.Subject) != "" {
			det = d.Detect(m.Header.Subject + "\n" + body)
		}
		return det
	}).(Detection)
}

// scripts Detect tells apart, with the languages that write in them.
var scripts = []struct {
	name  string
	table *unicode.RangeTable
}{
	{"Latin", unicode.Latin},
	{"Cyrillic", unicode.Cyrillic},
	{"Greek", unicode.Greek},
	{"Arabic", unicode.Arabic},
	{"Hebrew", unicode.Hebrew},
	{"Devanagari", unicode.Devanagari},
	{"Han", unicode.Han},
	{"Hiragana", unicode.Hiragana},
	{"Katakana", unicode.Katakana},
	{"Hangul", unicode.Hangul},
}

// ngramScripts are the scripts whose languages the n-gram model separates,
// with the languages of the model written in them.
var ngramScripts = map[string][]string{
	"Latin":    {"en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "hu", "ro", "tr", "vi", "id", "sk", "sl", "hr", "ca", "et", "lv", "lt", "ms"},
	"Cyrillic": {"ru", "uk", "bg"},
	"Arabic":   {"ar", "fa"},
}

// singleScript are scripts that, among the supported languages, only one
// language writes.
var singleScript = map[string]string{"Greek": "el", "Hebrew": "he", "Devanagari": "hi", "Hangul": "ko"}

// Detect returns the language of text.
func (d *Detector) Detect(text string) Detection {
	count := make([]int, len(scripts))
	letters := 0
	words := make([]string, 0, 64)
	buf := make([]byte, 0, 256)
	flush := func() {
		if len(buf) > 0 {
			words = append(words, string(buf))
			buf = buf[:0]
		}
	}
	for _, r := range text {
		if !unicode.IsLetter(r) {
			flush()
			if letters >= maxLetters {
				break
			}
			continue
		}
		w := 1
		for i, s := range scripts {
			if unicode.Is(s.table, r) {
				// A Han, kana or Hangul character carries about a
				// word's worth of information.
				if i >= 6 {
					w = 3
				}
				count[i] += w
				break
			}
		}
		letters += w
		buf = utf8.AppendRune(buf, unicode.ToLower(r))
	}
	flush()
	if letters < minLetters {
		return Detection{Reason: ReasonTooShort}
	}
	best := -1
	for i := range count {
		if best < 0 || count[i] > count[best] {
			best = i
		}
	}
	if count[best] == 0 {
		return Detection{Reason: ReasonScript}
	}
	script := scripts[best].name
	kana := count[7] + count[8]
	switch {
	case script == "Han" || script == "Hiragana" || script == "Katakana":
		// Japanese mixes kana into Han; Chinese has none.
		lang := "zh"
		if kana*10 > count[6] {
			lang, script = "ja", "Han+Kana"
		}
		if !d.cjk[lang] {
			return Detection{Script: script, Reason: ReasonScript}
		}
		return Detection{Language: lang, Confidence: 1, Script: script}
	case singleScript[script] != "":
		lang := singleScript[script]
		if !d.cjk[lang] && !d.allowedCode(lang) {
			return Detection{Script: script, Reason: ReasonScript}
		}
		return Detection{Language: lang, Confidence: 1, Script: script}
	}
	var cands []int
	for _, l := range ngramScripts[script] {
		if i, ok := d.m.index[l]; ok && d.allowed[i] {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return Detection{Script: script, Reason: ReasonScript}
	}
	if len(cands) == 1 {
		return Detection{Language: d.m.langs[cands[0]], Confidence: 1, Script: script}
	}
	cost := d.score(words, cands)
	return decide(d.m.langs, cands, cost, script)
}

func (d *Detector) allowedCode(l string) bool {
	i, ok := d.m.index[l]
	return ok && d.allowed[i]
}

// score sums, per candidate language, the cost of every n-gram of words:
// each trigram, or the whole word when it is shorter. A language that lacks
// the n-gram is charged its leading bigram or unigram plus a back-off
// penalty, or the unseen cost.
func (d *Detector) score(words []string, cands []int) []float64 {
	total := make([]float64, len(d.m.langs))
	got := make([]bool, len(d.m.langs))
	one := func(gram string, order int) {
		clear(got)
		g := gram
		for o := order; o >= 0 && g != ""; o-- {
			for _, p := range d.m.lookup(o, g) {
				if !got[p.lang] {
					got[p.lang] = true
					total[p.lang] += float64(p.cost) + backoffPenalty(order-o)
				}
			}
			_, sz := utf8.DecodeLastRuneInString(g)
			g = g[:len(g)-sz]
		}
		for _, li := range cands {
			if !got[li] {
				total[li] += unseenCost
			}
		}
	}
	var offs [3]int
	grams := 0
	for _, w := range words {
		// Stop once one language leads by far: a long text decides early.
		if grams >= 64 {
			grams = 0
			if decided(total, cands) {
				break
			}
		}
		n := 0
		for j := range w {
			offs[n%3] = j
			n++
			if n >= 3 {
				_, sz := utf8.DecodeRuneInString(w[j:])
				one(w[offs[(n-3)%3]:j+sz], 2)
				grams++
			}
		}
		if n < 3 {
			one(w, n-1)
			grams++
		}
	}
	return total
}

// decidedGap is the lead, in hundredths of a natural-log unit, past which
// the rest of a text cannot change the answer in practice (e^-40).
const decidedGap = 4000

func decided(total []float64, cands []int) bool {
	best, second := math.Inf(1), math.Inf(1)
	for _, li := range cands {
		switch c := total[li]; {
		case c < best:
			best, second = c, best
		case c < second:
			second = c
		}
	}
	return second-best > decidedGap
}

func backoffPenalty(steps int) float64 {
	switch steps {
	case 0:
		return 0
	case 1:
		return backoffBigram
	}
	return backoffUnigram
}

func decide(langs []string, cands []int, cost []float64, script string) Detection {
	sort.Slice(cands, func(a, b int) bool { return cost[cands[a]] < cost[cands[b]] })
	// Costs are hundredths of natural-log units; turn them into
	// probabilities relative to the best.
	best := cost[cands[0]]
	var sum float64
	probs := make([]float64, len(cands))
	for i, li := range cands {
		probs[i] = math.Exp(-(cost[li] - best) / 100)
		sum += probs[i]
	}
	det := Detection{Language: langs[cands[0]], Confidence: probs[0] / sum, Script: script}
	for i := 1; i < len(cands) && i < 3; i++ {
		if p := probs[i] / sum; p >= 0.01 {
			det.Alternatives = append(det.Alternatives, Candidate{langs[cands[i]], round3(p)})
		}
	}
	det.Confidence = round3(det.Confidence)
	return det
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
