package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

func storeReport(t *testing.T, c *Conn, r report.Report) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JS.Publish(context.Background(), SubjectReportPrefix+string(r.Verdict), b, jetstream.WithMsgID(r.ID)); err != nil {
		t.Fatal(err)
	}
}

func sentimentReport(id string, verdict analyzers.Verdict, sentiment float64) report.Report {
	res := analyzers.Result{Analyzer: "sentiment", Status: analyzers.StatusOK, Verdict: analyzers.VerdictClean}
	_ = res.SetData(map[string]any{"score": sentiment, "label": "x"})
	return report.Report{Schema: report.Schema, ID: id, Verdict: verdict, Subject: "s " + id, Results: []analyzers.Result{res}}
}

func TestWebhookRetriesSignsAndFilters(t *testing.T) {
	var mu sync.Mutex
	var got []string
	calls := 0
	const secret = "hook-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 { // the receiver is down for the first two attempts
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(HeaderSignature) != Sign([]byte(secret), body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get(HeaderIdempotency) == "" || r.Header.Get(HeaderIdempotency) != r.Header.Get(HeaderReportID) {
			http.Error(w, "no idempotency key", http.StatusBadRequest)
			return
		}
		got = append(got, r.Header.Get(HeaderReportID))
	}))
	defer srv.Close()

	c := startConn(t, t.TempDir())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Setup(ctx, nil, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK_SECRET", secret)
	oc := OutputConfig{Type: "webhook", URL: srv.URL, SecretEnv: "HOOK_SECRET",
		When: `verdict == "malicious" || sentiment.score < -0.5`}
	out, err := NewOutput(oc, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.(*Webhook).backoff = 10 * time.Millisecond
	storeReport(t, c, sentimentReport("mal", analyzers.VerdictMalicious, 0.3))
	storeReport(t, c, sentimentReport("calm", analyzers.VerdictClean, 0.1))
	storeReport(t, c, sentimentReport("angry", analyzers.VerdictClean, -0.8))
	done := make(chan error, 1)
	go func() { done <- c.RunOutput(ctx, oc, out, testLog(t)) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "mal,angry" {
		t.Fatalf("receiver got %v, want mal,angry (calm filtered out by when)", got)
	}
	if calls != 4 {
		t.Errorf("receiver saw %d calls, want 2 failures + 2 deliveries", calls)
	}
}

func TestOutputConfigValidate(t *testing.T) {
	tests := []struct {
		oc   OutputConfig
		want string
	}{
		{OutputConfig{Type: "jsonl", Path: "r.jsonl"}, ""},
		{OutputConfig{Type: "jsonl"}, "path is required"},
		{OutputConfig{Type: "webhook", URL: "ftp://x"}, "want an http or https URL"},
		{OutputConfig{Type: "webhook", URL: "https://hooks.example.com/x", When: `verdict ==`}, "when"},
		{OutputConfig{Type: "stdout", Format: "yaml"}, "format"},
		{OutputConfig{Type: "kafka"}, `unknown type "kafka"`},
		{OutputConfig{Type: "stdout", Name: "a b"}, "output name"},
		{OutputConfig{Type: "webhook", URL: "https://h.example.com", Path: "x", Format: "json"}, "format, path not used by type webhook"},
	}
	for _, tt := range tests {
		err := tt.oc.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: err = %v, want %q", tt.oc, err, tt.want)
		}
	}
}

func TestJSONLRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reports.jsonl")
	j, err := OpenJSONL(path, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		r := report.Report{Schema: report.Schema, ID: strings.Repeat("x", 10) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Subject: strings.Repeat("s", 100)}
		b, _ := json.Marshal(r)
		if err := j.Write(context.Background(), &r, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(path + ".*")
	if len(old) != 2 {
		t.Fatalf("%d rotated files, want max_files=2", len(old))
	}
	for _, p := range append(old, path) {
		st, err := os.Stat(p)
		if err != nil || st.Size() > 1000 {
			t.Fatalf("%s: size %d (limit 1000), %v", p, st.Size(), err)
		}
	}
}
