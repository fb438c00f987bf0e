package phishing

import (
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func evalScorers(t *testing.T) []evalScorer {
	t.Helper()
	st := analyzers.NewMemoryState()
	p := mustNew(t, DefaultConfig())
	if err := p.Attach(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	return []evalScorer{{name: "phishing", as: []analyzers.Analyzer{p}}}
}

func mustNew(t testing.TB, cfg Config) *Analyzer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
