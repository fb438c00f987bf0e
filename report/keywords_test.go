package report

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

func TestBuildKeywords(t *testing.T) {
	kw := analyzers.Result{Analyzer: "keywords", Status: analyzers.StatusOK, Verdict: analyzers.VerdictClean,
		Data: json.RawMessage(`{"keywords":[{"phrase":"rain cover","score":1},{"phrase":"hip belt","score":0.5}]}`)}
	tests := []struct {
		name    string
		results []analyzers.Result
		want    []string
	}{
		{"from the keywords result", []analyzers.Result{kw}, []string{"rain cover", "hip belt"}},
		{"failed keywords result", []analyzers.Result{{Analyzer: "keywords", Status: analyzers.StatusError, Data: kw.Data}}, nil},
		{"no keywords analyzer", []analyzers.Result{{Analyzer: "headers", Status: analyzers.StatusOK}}, nil},
		{"garbage data", []analyzers.Result{{Analyzer: "keywords", Status: analyzers.StatusOK, Data: json.RawMessage(`[1`)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(Envelope{ID: "x"}, tt.results, Policy{}, time.Unix(0, 0))
			if !slices.Equal(r.Artifacts.Keywords, tt.want) {
				t.Errorf("keywords = %q, want %q", r.Artifacts.Keywords, tt.want)
			}
			b, _ := json.Marshal(r.Artifacts)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if _, ok := m["keywords"]; ok != (tt.want != nil) {
				t.Errorf("artifacts JSON %s: keywords present %v", b, ok)
			}
		})
	}
}
