package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mailsift/mailsift/analyzers/sentiment"
)

func TestSolve(t *testing.T) {
	// 2x + y = 5, x - y = 1.
	got, err := solve([][]float64{{2, 1, 5}, {1, -1, 1}})
	if err != nil || math.Abs(got[0]-2) > 1e-12 || math.Abs(got[1]-1) > 1e-12 {
		t.Errorf("solve = %v, %v; want [2 1]", got, err)
	}
	if _, err := solve([][]float64{{1, 2, 3}, {2, 4, 6}}); err == nil {
		t.Error("singular system solved")
	}
}

// TestFitRidge fits sets whose ratings are a known linear function of two
// features plus a per-set offset: the fit must find the function whatever
// the offsets; a text with every feature 0 but its length must rate 0;
// and the scores must spread as the "rules" feature does.
func TestFitRidge(t *testing.T) {
	d := len(sentiment.FeatureNames)
	rng := rand.New(rand.NewPCG(1, 2))
	var sets []featSet
	for k, offset := range []float64{0, 1.5, -2} {
		s := featSet{name: string(rune('a' + k))}
		for range 200 + 100*k {
			x := make([]float64, d)
			for j := range x {
				// Of the spread of real scores, so that tanh is
				// nearly linear.
				x[j] = 0.3 * rng.NormFloat64()
			}
			s.x = append(s.x, x)
			s.human = append(s.human, offset+2*x[0]-x[2])
		}
		sets = append(sets, s)
	}
	m, err := fitRidge(sets, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	for j, w := range m.Weight {
		want := 0.0
		switch j {
		case 0:
			want = 2 * m.Scale[0]
		case 2:
			want = -m.Scale[2]
		}
		if math.Abs(w-want) > 1e-3 {
			t.Errorf("weight of %s = %v, want %v", sentiment.FeatureNames[j], w, want)
		}
	}
	for _, s := range sets {
		if r := setR(m, s); r < 0.99 {
			t.Errorf("set %s: r %v", s.name, r)
		}
	}
	x0 := make([]float64, d)
	for j, n := range sentiment.FeatureNames {
		if n == "length" {
			x0[j] = m.Mean[j]
		}
	}
	if p := m.Rating(x0); math.Abs(p) > 1e-9 {
		t.Errorf("a text without sentiment rates %v", p)
	}
	var sum, sq float64
	n := 0
	for _, s := range sets {
		for _, x := range s.x {
			v := m.Score(x)
			sum, sq, n = sum+v, sq+v*v, n+1
		}
	}
	if sd := math.Sqrt(sq/float64(n) - sum*sum/float64(n*n)); math.Abs(sd-0.3) > 0.03 {
		t.Errorf("scores spread %v, the rules feature 0.3", sd)
	}
	rs, _, err := heldOut(sets)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r < 0.99 {
			t.Errorf("held out %s: r %v", sets[i].name, r)
		}
	}
}
