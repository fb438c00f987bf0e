package sentiment

import (
	"math"
	"testing"
)

// FuzzScore checks that no text makes the local model panic or leave -1..1.
func FuzzScore(f *testing.F) {
	l := NewLocal(LocalOptions{Additions: true})
	learned := NewLocal(LocalOptions{Additions: true, Learned: true})
	plain := NewLocal(LocalOptions{})
	for _, s := range []string{"not good", "no no no", "but", "BUT NOT", "kind of", "!!!???", "😍😡", "still waiting waiting", "the least", "¡¿«»", "n't n't"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, lang := range Languages {
			for _, m := range []*Local{l, learned} {
				a := m.Assess(s, lang)
				if math.IsNaN(a.Score) || a.Score < -1 || a.Score > 1 {
					t.Fatalf("%s score %v for %q (learned %v)", lang, a.Score, s, m == learned)
				}
			}
		}
		if v := plain.Score(s, "en"); math.IsNaN(v) || v < -1 || v > 1 {
			t.Fatalf("score %v for %q", v, s)
		}
	})
}
