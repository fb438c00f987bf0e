package analyzers

import (
	"errors"
	"strings"
	"testing"
)

func TestScoreTable(t *testing.T) {
	defaults := map[string]float64{"A": 1, "B": 2}
	got, err := ScoreTable(defaults, map[string]float64{"B": 5})
	if err != nil || got["A"] != 1 || got["B"] != 5 || defaults["B"] != 2 {
		t.Fatalf("ScoreTable = %v, %v (defaults now %v)", got, err, defaults)
	}
	if _, err := ScoreTable(defaults, map[string]float64{"C": 1}); err == nil || !strings.Contains(err.Error(), `unknown symbol "C" (known: A, B)`) {
		t.Fatalf("unknown symbol: %v", err)
	}
}

func TestScoreVerdict(t *testing.T) {
	tests := []struct {
		score, susp, mal float64
		want             Verdict
	}{
		{0, 5, 15, VerdictClean}, {5, 5, 15, VerdictSuspicious}, {15, 5, 15, VerdictMalicious},
		{100, 0, 0, VerdictClean}, {100, 5, 0, VerdictSuspicious},
	}
	for _, tt := range tests {
		if got := ScoreVerdict(tt.score, tt.susp, tt.mal); got != tt.want {
			t.Errorf("ScoreVerdict(%v, %v, %v) = %s, want %s", tt.score, tt.susp, tt.mal, got, tt.want)
		}
	}
}

type optsFunc func(any) error

func (f optsFunc) Decode(v any) error { return f(v) }

func TestConfigured(t *testing.T) {
	type cfg struct{ N int }
	var built cfg
	newA := Configured(func() cfg { return cfg{N: 1} }, func(c cfg) (Analyzer, error) {
		built = c
		return nil, nil
	})
	if _, err := newA(NoOptions{}); err != nil || built.N != 1 {
		t.Fatalf("defaults: %+v %v", built, err)
	}
	if _, err := newA(optsFunc(func(v any) error { v.(*cfg).N = 7; return nil })); err != nil || built.N != 7 {
		t.Fatalf("decoded: %+v %v", built, err)
	}
	boom := errors.New("line 3: unknown key")
	if _, err := newA(optsFunc(func(any) error { return boom })); !errors.Is(err, boom) {
		t.Fatalf("decode error: %v", err)
	}
}
