package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startConn starts an embedded server in a temp dir, as `mailsift run` does
// with no nats.url.
func startConn(t *testing.T, dir string) *Conn {
	t.Helper()
	cfg := Defaults()
	cfg.StoreDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mailBytes(subject, body string) []byte {
	return []byte("From: Ann <ann@example.com>\r\nTo: support@example.org\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n" + body + "\r\n")
}

func TestEmbeddedServerSurvivesRestartAndSetupIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := startConn(t, dir)
	if !c.Embedded() {
		t.Fatal("no url configured, want embedded server")
	}
	wc := DefaultWorker()
	for i := 0; i < 2; i++ {
		if err := c.Setup(ctx, []string{"a", "b"}, wc); err != nil {
			t.Fatalf("setup #%d: %v", i+1, err)
		}
	}
	id := MessageID("support", "uid-1")
	pub, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: "uid-1", ID: id, Body: bytes.NewReader(mailBytes("one", "hi"))})
	if err != nil || pub.Duplicate {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	c.Close()

	// Same store dir: the stream, its message and the dedupe state remain.
	c = startConn(t, dir)
	defer c.Close()
	if err := c.Setup(ctx, []string{"a", "b"}, wc); err != nil {
		t.Fatal(err)
	}
	again, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: "uid-1", ID: id, Body: bytes.NewReader(mailBytes("one", "hi"))})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != pub.Sequence {
		t.Fatalf("republish after restart = %+v, want duplicate of seq %d", again, pub.Sequence)
	}
	s, err := c.JS.Stream(ctx, StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("MAIL holds %d messages, want 1", n)
	}
	for _, name := range []string{ConsumerFor("a"), ConsumerFor("b")} {
		if _, err := c.JS.Consumer(ctx, StreamMail, name); err != nil {
			t.Errorf("consumer %s: %v", name, err)
		}
	}
}

func TestSetupRejectsBadNames(t *testing.T) {
	c := startConn(t, t.TempDir())
	defer c.Close()
	err := c.Setup(context.Background(), []string{"has space"}, DefaultWorker())
	if err == nil || !strings.Contains(err.Error(), `analyzer name "has space"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLargeMessageGoesToObjectStore(t *testing.T) {
	c := startConn(t, t.TempDir())
	defer c.Close()
	ctx := context.Background()
	if err := c.Setup(ctx, nil, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	big := mailBytes("big", strings.Repeat("0123456789abcdef\r\n", 200_000)) // 3.6 MB
	for _, known := range []int64{0, int64(len(big))} {
		id := MessageID("support", fmt.Sprintf("big-%d", known))
		pub, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: "big", ID: id, Size: known, Body: bytes.NewReader(big)})
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Blob || pub.Size != int64(len(big)) {
			t.Fatalf("size known=%d: %+v, want blob of %d bytes", known, pub, len(big))
		}
		s, _ := c.JS.Stream(ctx, StreamMail)
		raw, err := s.GetMsg(ctx, pub.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw.Data) != 0 || raw.Header.Get(HeaderBlob) != id {
			t.Fatalf("stream message: %d bytes, blob header %q", len(raw.Data), raw.Header.Get(HeaderBlob))
		}
		body, err := c.Body(ctx, raw.Header, raw.Data)
		if err != nil || !bytes.Equal(body, big) {
			t.Fatalf("body from object store: %d bytes, err %v", len(body), err)
		}
	}
}

// fn is an analyzer whose behaviour a test sets.
type fn struct {
	name string
	f    func(ctx context.Context, m *analyzers.Message) (analyzers.Result, error)
}

func (a fn) Name() string { return a.name }
func (a fn) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	return a.f(ctx, m)
}

type harness struct {
	conn    *Conn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	reports chan report.Report
}

// runPipeline runs workers for as and a reporter expecting them, collecting
// every stored report.
func runPipeline(t *testing.T, wc WorkerConfig, as ...analyzers.Analyzer) *harness {
	t.Helper()
	c := startConn(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{conn: c, cancel: cancel, reports: make(chan report.Report, 100)}
	var names []string
	security := map[string]bool{}
	for _, a := range as {
		names = append(names, a.Name())
		security[a.Name()] = true
	}
	if err := c.Setup(ctx, names, wc); err != nil {
		t.Fatal(err)
	}
	rc := DefaultReporter()
	rc.ReportTimeout = 20 * time.Second
	w := NewWorker(c, wc, as, nil, testLog(t))
	r := NewReporter(c, rc, names, security, nil, testLog(t))
	ready := make(chan struct{})
	h.wg.Add(3)
	go func() { defer h.wg.Done(); _ = w.Run(ctx) }()
	go func() { defer h.wg.Done(); _ = r.Run(ctx) }()
	go func() {
		defer h.wg.Done()
		close(ready)
		_ = c.Follow(ctx, FollowOptions{All: true}, func(rep *report.Report, _ []byte) error {
			h.reports <- *rep
			return nil
		})
	}()
	<-ready
	t.Cleanup(func() { h.cancel(); h.wg.Wait(); c.Close() })
	return h
}

func (h *harness) publish(t *testing.T, uidl string, raw []byte) string {
	t.Helper()
	id := MessageID("support", uidl)
	if _, err := h.conn.Publish(context.Background(), Mail{Mailbox: "support", UIDL: uidl, ID: id, Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (h *harness) next(t *testing.T) report.Report {
	t.Helper()
	select {
	case r := <-h.reports:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no report within 30s")
	}
	return report.Report{}
}

func (h *harness) noMore(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case r := <-h.reports:
		t.Fatalf("unexpected extra report %s", r.ID)
	case <-time.After(wait):
	}
}

func TestEndToEndReport(t *testing.T) {
	subject := fn{"subject", func(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
		var r analyzers.Result
		if strings.Contains(m.Header.Subject, "refund") {
			r.Add("REFUND", 6, m.Header.Subject)
			r.Verdict = analyzers.VerdictSuspicious
		}
		return r, nil
	}}
	size := fn{"size", func(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
		var r analyzers.Result
		_ = r.SetData(map[string]int{"bytes": len(m.Raw)})
		return r, nil
	}}
	h := runPipeline(t, DefaultWorker(), subject, size)
	ids := map[string]bool{h.publish(t, "1", mailBytes("refund please", "x")): true, h.publish(t, "2", mailBytes("thanks", "y")): true}
	for i := 0; i < 2; i++ {
		r := h.next(t)
		if !ids[r.ID] {
			t.Fatalf("report for unknown id %s", r.ID)
		}
		delete(ids, r.ID)
		if r.Schema != report.Schema || len(r.Results) != 2 || r.Mailbox != "support" || r.From != "ann@example.com" {
			t.Fatalf("report = %+v", r)
		}
		want := analyzers.VerdictClean
		if strings.Contains(r.Subject, "refund") {
			want = analyzers.VerdictSuspicious
		}
		if r.Verdict != want {
			t.Errorf("%s: verdict %s, want %s", r.Subject, r.Verdict, want)
		}
		if r.ReceivedAt == nil || r.ReportedAt.Before(*r.ReceivedAt) {
			t.Errorf("timestamps: received %v reported %v", r.ReceivedAt, r.ReportedAt)
		}
	}
	h.noMore(t, 500*time.Millisecond)
}

func TestFailingAnalyzerEndsInErrorResultAndDeadLetter(t *testing.T) {
	var attempts atomic.Int32
	broken := fn{"broken", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		attempts.Add(1)
		return analyzers.Result{}, errors.New("scanner unreachable")
	}}
	panicky := fn{"panicky", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		panic("index out of range")
	}}
	wc := DefaultWorker()
	wc.MaxDeliveries = 3
	wc.RetryDelay = 50 * time.Millisecond
	h := runPipeline(t, wc, broken, panicky)
	id := h.publish(t, "1", mailBytes("hello", "x"))
	r := h.next(t)
	if r.ID != id || r.Verdict != analyzers.VerdictUnknown {
		t.Fatalf("report %s verdict %s, want %s unknown", r.ID, r.Verdict, id)
	}
	got := map[string]analyzers.Result{}
	for _, res := range r.Results {
		got[res.Analyzer] = res
	}
	if res := got["broken"]; res.Status != analyzers.StatusError || !strings.Contains(res.Error, "scanner unreachable") {
		t.Errorf("broken result = %+v", res)
	}
	if res := got["panicky"]; res.Status != analyzers.StatusError || !strings.Contains(res.Error, "panicked: index out of range") {
		t.Errorf("panicky result = %+v", res)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("broken analyzer ran %d times, want max_deliveries=3", n)
	}
	// The dead letter is on RESULTS, naming the message and the last error.
	s, err := h.conn.JS.Stream(context.Background(), StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), SubjectDeadPrefix+"broken")
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(m.Data, &dl); err != nil || dl.ID != id || dl.Deliveries != 3 || dl.Error != "scanner unreachable" {
		t.Fatalf("dead letter = %+v, %v", dl, err)
	}
	h.noMore(t, 300*time.Millisecond)
}

func TestNotAnEmailIsAnErrorResultNotARetry(t *testing.T) {
	var calls atomic.Int32
	a := fn{"a", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		calls.Add(1)
		return analyzers.Result{}, nil
	}}
	h := runPipeline(t, DefaultWorker(), a)
	h.publish(t, "png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	r := h.next(t)
	if len(r.Results) != 1 || r.Results[0].Status != analyzers.StatusError || !strings.Contains(r.Results[0].Error, "parse") {
		t.Fatalf("results = %+v", r.Results)
	}
	if calls.Load() != 0 {
		t.Errorf("analyzer ran on a non-message")
	}
}

func TestJSONLSkipsReportsItAlreadyHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.jsonl")
	write := func(ids ...string) {
		j, err := OpenJSONL(path, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		for _, id := range ids {
			r := report.Report{Schema: report.Schema, ID: id}
			b, _ := json.Marshal(r)
			if err := j.Write(context.Background(), &r, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "b")
	write("b", "c") // a replay after a crash repeats b
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r report.Report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("file holds %v, want a,b,c", ids)
	}
}

func TestSkippedMailGetsSkippedResults(t *testing.T) {
	var calls atomic.Int32
	a := fn{"a", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		calls.Add(1)
		return analyzers.Result{}, nil
	}}
	h := runPipeline(t, DefaultWorker(), a)
	id := MessageID("support", "huge")
	head := []byte("From: a@example.com\r\nSubject: huge\r\n\r\n")
	if _, err := h.conn.Publish(context.Background(), Mail{Mailbox: "support", UIDL: "huge", ID: id, Size: 90_000_000,
		Body: bytes.NewReader(head), Skipped: "over max_message_size"}); err != nil {
		t.Fatal(err)
	}
	r := h.next(t)
	if r.Subject != "huge" || r.Size != 90_000_000 || r.Verdict != analyzers.VerdictUnknown {
		t.Fatalf("report = %+v", r)
	}
	if res := r.Results[0]; res.Status != analyzers.StatusSkipped || res.Error != "over max_message_size" {
		t.Fatalf("result = %+v", res)
	}
	if calls.Load() != 0 {
		t.Error("analyzer ran on a message that was not fetched")
	}
}

func TestDeferralsDoNotUseUpAttempts(t *testing.T) {
	var calls atomic.Int32
	quota := fn{"quota", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		if calls.Add(1) <= 4 {
			return analyzers.Result{Status: analyzers.StatusDeferred, Error: "quota spent"}, nil
		}
		return analyzers.Result{}, nil
	}}
	always := fn{"always", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		return analyzers.Result{Status: analyzers.StatusDeferred, Error: "quota spent"}, nil
	}}
	wc := DefaultWorker()
	wc.MaxDeliveries = 2
	wc.DeferDelay = 50 * time.Millisecond
	wc.MaxDefer = 2 * time.Second
	h := runPipeline(t, wc, quota, always)
	h.publish(t, "1", mailBytes("quota", "x"))
	r := h.next(t)
	got := map[string]analyzers.Result{}
	for _, res := range r.Results {
		got[res.Analyzer] = res
	}
	if res := got["quota"]; res.Status != analyzers.StatusOK {
		t.Errorf("quota analyzer: %+v, want ok after 4 deferrals with max_deliveries 2", res)
	}
	if res := got["always"]; res.Status != analyzers.StatusDeferred || res.Verdict != analyzers.VerdictUnknown {
		t.Errorf("always-deferring analyzer: %+v, want a final deferred result after max_defer", res)
	}
}

func TestReplayedResultOfReportedMailMakesNoSecondReport(t *testing.T) {
	a := fn{"a", func(context.Context, *analyzers.Message) (analyzers.Result, error) { return analyzers.Result{}, nil }}
	h := runPipeline(t, DefaultWorker(), a)
	ctx := context.Background()
	old := MessageID("support", "old")
	kv, err := h.conn.JS.KeyValue(ctx, BucketReported)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, old, []byte("clean")); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-3 * time.Hour)
	for _, id := range []string{old, MessageID("support", "new")} {
		rm := ResultMessage{ID: id, Analyzer: "a", Result: analyzers.Result{Analyzer: "a", Status: analyzers.StatusOK, Verdict: analyzers.VerdictClean},
			Envelope: report.Envelope{ID: id, ReceivedAt: &long}}
		b, _ := json.Marshal(rm)
		if _, err := h.conn.JS.Publish(ctx, SubjectResultPrefix+"a", b); err != nil {
			t.Fatal(err)
		}
	}
	if r := h.next(t); r.ID != MessageID("support", "new") {
		t.Fatalf("reported %s, want only the message never reported", r.ID)
	}
	h.noMore(t, 500*time.Millisecond)
	// The new report is recorded for later replays.
	waitFor(t, "the report record", 5*time.Second, func() bool {
		_, err := kv.Get(ctx, MessageID("support", "new"))
		return err == nil
	})
}

// A report JetStream refuses to store keeps its results unacknowledged, and
// is stored once REPORTS takes it again: never acknowledged without a
// report, never reported twice.
func TestRefusedReportIsRetriedNotLost(t *testing.T) {
	a := fn{"a", func(context.Context, *analyzers.Message) (analyzers.Result, error) { return analyzers.Result{}, nil }}
	h := runPipeline(t, DefaultWorker(), a)
	ctx := context.Background()
	stream, err := h.conn.JS.Stream(ctx, StreamReports)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	refusing := cfg
	refusing.MaxMsgSize = 16
	if _, err := h.conn.JS.UpdateStream(ctx, refusing); err != nil {
		t.Fatal(err)
	}
	id := h.publish(t, "refused", mailBytes("hello", "x"))
	h.noMore(t, 2*time.Second)
	cons, err := h.conn.JS.Consumer(ctx, StreamResults, ConsumerReporter)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 1 {
		t.Fatalf("reporter holds %d results unacknowledged while its report is refused, want 1", info.NumAckPending)
	}
	if _, err := h.conn.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if r := h.next(t); r.ID != id {
		t.Fatalf("report for %s, want %s", r.ID, id)
	}
	h.noMore(t, time.Second)
	waitFor(t, "the result acknowledged", 5*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0
	})
}
