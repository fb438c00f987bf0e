package sentiment

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestLearnedLayer(t *testing.T) {
	rules := NewLocal(LocalOptions{Additions: true})
	learned := NewLocal(LocalOptions{Additions: true, Learned: true})
	if err := learned.Err(); err != nil {
		t.Fatalf("embedded model: %v", err)
	}
	tests := []struct {
		name, lang, text string
		want             string // sign: -, + or 0 (|score| < 0.1)
	}{
		{"angry", "en", "This is the worst service ever, I am furious. Refund me now!", "-"},
		{"negated praise", "en", "The support was not helpful at all.", "-"},
		{"happy", "en", "Thank you so much, the jacket is perfect and arrived early!", "+"},
		{"no sentiment", "en", "The parcel left the warehouse on 12 May.", "0"},
		{"long complaint", "en", strings.Repeat("I am still waiting for my order. Nobody answers the phone and I am really disappointed. ", 20), "-"},
		{"long thanks", "en", strings.Repeat("Thanks a lot, the boots fit perfectly. Great service! ", 20), "+"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := learned.Assess(tt.text, tt.lang)
			switch {
			case tt.want == "-" && a.Score > -0.3, tt.want == "+" && a.Score < 0.3, tt.want == "0" && math.Abs(a.Score) >= 0.1:
				t.Errorf("score %v (rules %v), want %s", a.Score, a.Rules, tt.want)
			}
			r := rules.Assess(tt.text, tt.lang)
			if a.Rules != r.Score || r.Rules != r.Score {
				t.Errorf("rules' score %v with the layer, %v and %v without", a.Rules, r.Score, r.Rules)
			}
			// The drivers stay the rules' sentence scores.
			if !slices.Equal(a.Sentences, r.Sentences) {
				t.Errorf("sentences %v, want the rules' %v", a.Sentences, r.Sentences)
			}
		})
	}
	// The layer is English only: other languages keep the rules' score.
	for lang, text := range map[string]string{
		"de": "Die Jacke ist kaputt und ich bin sehr enttäuscht.",
		"fr": "Merci beaucoup, le sac est parfait !",
		"es": "La mochila llegó rota, es inaceptable.",
	} {
		if a, r := learned.Assess(text, lang), rules.Assess(text, lang); a.Score != r.Score || a.Score == 0 {
			t.Errorf("%s: learned %v, rules %v; want the rules' non-zero score", lang, a.Score, r.Score)
		}
	}
}

func TestFeatures(t *testing.T) {
	l := NewLocal(LocalOptions{Additions: true})
	if f := NewLocal(LocalOptions{}).Features("good"); f != nil {
		t.Errorf("features without the additions: %v", f)
	}
	idx := func(name string) int {
		for i, n := range FeatureNames {
			if n == name {
				return i
			}
		}
		t.Fatalf("no feature %s", name)
		return -1
	}
	tests := []struct {
		name, text, feature string
		want                float64
	}{
		{"AFINN phrase counts once", "it does not work", "afinn_neg", math.Log1p(1)},
		{"AFINN negated", "never happy", "afinn", normalize(3*negScalar, 0)},
		{"AFINN negated three words back", "never was it happy", "afinn", normalize(3*negScalar, 0)},
		{"AFINN not negated four words back", "never once was it happy", "afinn", normalize(3, 0)},
		{"AFINN phrase before negation", "not good", "afinn", normalize(-2, 0)},
		{"exclamations a sentence", "Great! Great!", "exclaim", math.Log1p(1)},
		{"negations", "I do not want it and I never will", "negations", math.Log1p(2)},
		{"rules score", "good", "rules", 0.4404},
		{"nothing", "the parcel left", "afinn", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := l.Features(tt.text)
			if len(f) != len(FeatureNames) {
				t.Fatalf("%d features, want %d", len(f), len(FeatureNames))
			}
			if got := f[idx(tt.feature)]; math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("%s = %v, want %v", tt.feature, got, tt.want)
			}
		})
	}
	// A mail of many sentences is read per sentence, inside the range of
	// the one- and two-sentence items the layer was trained on.
	one := l.Features("I am really disappointed!")
	many := l.Features(strings.Repeat("I am really disappointed! ", 50))
	for _, n := range []string{"exclaim", "length", "negations"} {
		if one[idx(n)] != many[idx(n)] {
			t.Errorf("%s: %v for one sentence, %v for fifty", n, one[idx(n)], many[idx(n)])
		}
	}
}

func TestParseLearned(t *testing.T) {
	var ok strings.Builder
	for _, n := range FeatureNames {
		ok.WriteString(n + "\t0.5\t2\t1\n")
	}
	good := ok.String() + "bias\t0.25\ngain\t0.5\n"
	m, err := parseLearned("# comment\n" + good)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, len(FeatureNames))
	for i := range x {
		x[i] = 2.5 // each term (2.5-0.5)/2*1 = 1
	}
	want := math.Round(math.Tanh(0.5*(0.25+float64(len(x))))*1e4) / 1e4
	if got := round(m.Score(x), 4); got != want {
		t.Errorf("score = %v, want %v", got, want)
	}
	tests := []struct{ name, data string }{
		{"missing feature", strings.SplitN(good, "\n", 2)[1]},
		{"unknown feature", good + "sparkle\t0\t1\t1\n"},
		{"bad number", strings.Replace(good, "\t2\t", "\tx\t", 1)},
		{"zero scale", strings.Replace(good, "\t2\t", "\t0\t", 1)},
		{"no bias", strings.Replace(good, "bias\t0.25\n", "", 1)},
		{"no gain", strings.Replace(good, "gain\t0.5\n", "", 1)},
		{"negative gain", strings.Replace(good, "gain\t0.5", "gain\t-1", 1)},
	}
	for _, tt := range tests {
		if _, err := parseLearned(tt.data); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
