package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

func res(name string, st analyzers.Status, v analyzers.Verdict, score float64) analyzers.Result {
	r := analyzers.Result{Analyzer: name, Status: st, Verdict: v}
	if score != 0 {
		r.Add("SYM_"+strings.ToUpper(name), score)
	}
	return r
}

func TestJudge(t *testing.T) {
	p := Policy{Security: map[string]bool{"clamav": true, "headers": true}, Thresholds: DefaultThresholds}
	ok, errSt := analyzers.StatusOK, analyzers.StatusError
	clean, susp, mal, unk := analyzers.VerdictClean, analyzers.VerdictSuspicious, analyzers.VerdictMalicious, analyzers.VerdictUnknown
	tests := []struct {
		name      string
		results   []analyzers.Result
		want      analyzers.Verdict
		wantScore float64
	}{
		{"all clean", []analyzers.Result{res("clamav", ok, clean, 0), res("sentiment", ok, clean, 0)}, clean, 0},
		{"worst wins", []analyzers.Result{res("clamav", ok, mal, 10), res("headers", ok, susp, 1)}, mal, 11},
		{"security failure is unknown", []analyzers.Result{res("clamav", errSt, unk, 0), res("headers", ok, clean, 0)}, unk, 0},
		{"non-security failure stays clean", []analyzers.Result{res("sentiment", errSt, unk, 0), res("headers", ok, clean, 0)}, clean, 0},
		{"failure does not hide harm", []analyzers.Result{res("clamav", errSt, unk, 0), res("headers", ok, susp, 2)}, susp, 2},
		{"score raises to suspicious", []analyzers.Result{res("headers", ok, clean, 3), res("attachments", ok, clean, 3)}, susp, 6},
		{"score raises to malicious", []analyzers.Result{res("headers", ok, susp, 9), res("attachments", ok, susp, 7)}, mal, 16},
		{"failed result's score does not count", []analyzers.Result{res("headers", errSt, unk, 20)}, unk, 0},
		{"no results", nil, clean, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, s := Judge(tt.results, p)
			if v != tt.want || s != tt.wantScore {
				t.Errorf("Judge = %s %.1f, want %s %.1f", v, s, tt.want, tt.wantScore)
			}
		})
	}
}

func TestBuildSortsAndTable(t *testing.T) {
	env := Envelope{ID: "abc", Subject: "Ärger mit der Rechnung und noch viel mehr Text der zu lang ist"}
	r := Build(env, []analyzers.Result{
		res("sentiment", analyzers.StatusOK, analyzers.VerdictClean, 0),
		res("attachments", analyzers.StatusOK, analyzers.VerdictMalicious, 10),
	}, Policy{}, time.Unix(0, 0))
	if r.Schema != Schema || r.Results[0].Analyzer != "attachments" || r.Verdict != analyzers.VerdictMalicious {
		t.Fatalf("report = %+v", r)
	}
	if r.Artifacts.URLs == nil || r.Artifacts.Attachments == nil {
		t.Error("artifacts lists must be present, not null")
	}
	var b bytes.Buffer
	tab := NewTable(&b)
	if err := tab.Write(&r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "malicious") || !strings.Contains(lines[1], "SYM_ATTACHMENTS") {
		t.Fatalf("table:\n%s", b.String())
	}
	if !strings.Contains(lines[1], "…") {
		t.Errorf("long subject not cut: %q", lines[1])
	}
}

func TestFitCountsColumns(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc   "},
		{"サイズ", "サイズ"},
		{"サイズ交換", "サイ… "},
		{"ok 🔥", "ok 🔥 "},
		{"a\tb", "a b   "},
		{"abcdefgh", "abcde…"},
	}
	for _, tt := range tests {
		if got := fit(tt.in, 6); got != tt.want {
			t.Errorf("fit(%q, 6) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
