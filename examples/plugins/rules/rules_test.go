package rules

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/plugins/sdk"
)

func TestContainsWord(t *testing.T) {
	tests := []struct {
		s, kw string
		want  bool
	}{
		{"i want a refund.", "refund", true},
		{"refund", "refund", true},
		{"refunded already", "refund", false},
		{"prerefund", "refund", false},
		{"no refunds, but a refund!", "refund", true},
		{"please cancel my account now", "cancel my account", true},
		{"rückerstattung bitte", "rückerstattung", true},
		{"dierückerstattung", "rückerstattung", false},
		{"error 5000", "error 500", false},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := containsWord(tt.s, tt.kw); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v, want %v", tt.s, tt.kw, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		file File
		want string
	}{
		{"no rules", File{}, "no rules"},
		{"lower-case name", File{Rules: []Rule{{Name: "urgent", Keywords: []string{"x"}}}}, `name "urgent"`},
		{"twice", File{Rules: []Rule{{Name: "A", Keywords: []string{"x"}}, {Name: "A", Keywords: []string{"y"}}}}, "used twice"},
		{"bad where", File{Rules: []Rule{{Name: "A", Keywords: []string{"x"}, In: []string{"footer"}}}}, `in "footer"`},
		{"no keywords", File{Rules: []Rule{{Name: "A"}}}, "no keywords"},
		{"blank keyword", File{Rules: []Rule{{Name: "A", Keywords: []string{" "}}}}, "empty keyword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadNamesLine(t *testing.T) {
	_, err := Load("testdata/typo.yaml")
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "keyword") {
		t.Fatalf("err = %v, want the unknown key and its line", err)
	}
}

// TestSamples runs the example rules over the sample mail through the
// plugin contract, as mailsift would.
func TestSamples(t *testing.T) {
	a, err := Load("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := sdk.RunFiles(t, a, "../../mail")
	if len(results) < 30 {
		t.Fatalf("%d results", len(results))
	}
	tests := []struct {
		file    string
		symbols []string
		tags    []string
	}{
		{"01-plain-order-question.eml", nil, []string{}},
		{"02-plain-refund-angry.eml", []string{"REFUND"}, []string{"billing"}},
		{"04-cancel-my-account.eml", []string{"CANCEL"}, []string{"churn-risk"}},
		{"05-happy-thank-you.eml", []string{"PRAISE"}, []string{"praise"}},
		{"12-german-latin1-qp.eml", []string{"REFUND"}, []string{"billing"}},
		{"31-urgent-checkout-outage.eml", []string{"URGENT", "OUTAGE"}, []string{"outage", "urgent"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, ok := results[tt.file]
			if !ok {
				t.Fatal("no result")
			}
			if r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean {
				t.Errorf("status %s verdict %s, want ok clean", r.Status, r.Verdict)
			}
			var names []string
			for _, s := range r.Symbols {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tt.symbols) {
				t.Errorf("symbols %v, want %v", names, tt.symbols)
			}
			var d Data
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Tags, tt.tags) {
				t.Errorf("tags %v, want %v", d.Tags, tt.tags)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	a, err := New(File{Rules: []Rule{{Name: "WIRE", Keywords: []string{"wire transfer"}, Score: 4}, {Name: "GIFT", Keywords: []string{"gift card"}, Score: 6}}, Suspicious: 4, Malicious: 10})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject string
		want    analyzers.Verdict
	}{
		{"lunch?", analyzers.VerdictClean},
		{"wire transfer today", analyzers.VerdictSuspicious},
		{"wire transfer or a gift card", analyzers.VerdictMalicious},
	}
	for _, tt := range tests {
		m := &analyzers.Message{Header: analyzers.Header{Subject: tt.subject}}
		r, err := a.Analyze(t.Context(), m)
		if err != nil || r.Verdict != tt.want {
			t.Errorf("%q: verdict %s, err %v; want %s", tt.subject, r.Verdict, err, tt.want)
		}
	}
}
