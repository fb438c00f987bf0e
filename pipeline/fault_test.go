package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

// The fault tests run workers and reporters as separate processes (this
// test binary, re-executed) so that they can be killed with SIGKILL, as a
// crash or an OOM kill would, with no chance to clean up.

const childEnv = "MAILSIFT_PIPELINE_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// runChild is the body of a child process: a worker or a reporter connected
// to the parent's NATS server.
func runChild(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := Defaults()
	cfg.URL = os.Getenv("MAILSIFT_TEST_NATS")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := Connect(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer c.Close()
	wc := DefaultWorker()
	wc.AckWait = 2 * time.Second
	wc.Concurrency = 2
	marks := os.Getenv("MAILSIFT_TEST_MARKS")
	sleep, _ := time.ParseDuration(os.Getenv("MAILSIFT_TEST_SLEEP"))
	switch role {
	case "worker":
		a := fn{"slow", func(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
			appendLine(marks, "start "+m.ID)
			select {
			case <-time.After(sleep):
			case <-ctx.Done():
				return analyzers.Result{}, ctx.Err()
			}
			appendLine(marks, fmt.Sprintf("done %s %d", m.ID, os.Getpid()))
			return analyzers.Result{}, nil
		}}
		fmt.Println("ready")
		_ = NewWorker(c, wc, []analyzers.Analyzer{a}, nil, log).Run(ctx)
	case "reporter":
		rc := DefaultReporter()
		rc.AckWait = 2 * time.Second
		fmt.Println("ready")
		_ = NewReporter(c, rc, []string{"a", "b"}, nil, nil, log).Run(ctx)
	}
	return 0
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line + "\n")
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// startChild starts this test binary as a worker or reporter and waits
// until it says it is ready.
func startChild(t *testing.T, role, natsURL string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "MAILSIFT_TEST_NATS="+natsURL)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child %s did not start: %q %v", role, line, err)
	}
	return cmd
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// listening starts an embedded server that other processes can reach.
func listening(t *testing.T) *Conn {
	t.Helper()
	cfg := Defaults()
	cfg.StoreDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	c, err := Connect(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collect follows REPORTS in the background and returns a function giving
// how many times each id was reported so far.
func collect(t *testing.T, c *Conn) func() map[string]int {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	counts := make(chan map[string]int, 1)
	counts <- map[string]int{}
	go func() {
		_ = c.Follow(ctx, FollowOptions{All: true}, func(r *report.Report, _ []byte) error {
			m := <-counts
			m[r.ID]++
			counts <- m
			return nil
		})
	}()
	return func() map[string]int {
		m := <-counts
		cp := make(map[string]int, len(m))
		for k, v := range m {
			cp[k] = v
		}
		counts <- m
		return cp
	}
}

func TestWorkerKilledMidAnalysisIsRedeliveredOnce(t *testing.T) {
	c := listening(t)
	ctx := context.Background()
	wc := DefaultWorker()
	wc.AckWait = 2 * time.Second
	if err := c.Setup(ctx, []string{"slow"}, wc); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = NewReporter(c, DefaultReporter(), []string{"slow"}, nil, nil, testLog(t)).Run(rctx) }()
	reports := collect(t, c)
	marks := filepath.Join(t.TempDir(), "marks")

	first := startChild(t, "worker", c.ClientURL(), "MAILSIFT_TEST_MARKS="+marks, "MAILSIFT_TEST_SLEEP=1h")
	id := MessageID("support", "k1")
	if _, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: "k1", ID: id, Body: bytes.NewReader(mailBytes("kill", "x"))}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first worker to start the analysis", 20*time.Second, func() bool { return len(readLines(t, marks)) == 1 })
	kill9(t, first)

	startChild(t, "worker", c.ClientURL(), "MAILSIFT_TEST_MARKS="+marks, "MAILSIFT_TEST_SLEEP=0s")
	waitFor(t, "the report", 30*time.Second, func() bool { return reports()[id] == 1 })
	time.Sleep(500 * time.Millisecond)
	if n := reports()[id]; n != 1 {
		t.Fatalf("message reported %d times, want 1", n)
	}
	lines := readLines(t, marks)
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "done_") {
		t.Fatalf("marks = %v, want start (killed), start, done", lines)
	}
}

func TestTwoWorkerProcessesShareTheConsumer(t *testing.T) {
	c := listening(t)
	ctx := context.Background()
	wc := DefaultWorker()
	wc.AckWait = 2 * time.Second
	if err := c.Setup(ctx, []string{"slow"}, wc); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = NewReporter(c, DefaultReporter(), []string{"slow"}, nil, nil, testLog(t)).Run(rctx) }()
	reports := collect(t, c)
	marks := filepath.Join(t.TempDir(), "marks")
	for i := 0; i < 2; i++ {
		startChild(t, "worker", c.ClientURL(), "MAILSIFT_TEST_MARKS="+marks, "MAILSIFT_TEST_SLEEP=5ms")
	}
	const n = 200
	for i := 0; i < n; i++ {
		uidl := fmt.Sprintf("u%d", i)
		if _, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: uidl, ID: MessageID("support", uidl), Body: bytes.NewReader(mailBytes(uidl, "x"))}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all reports", 60*time.Second, func() bool { return len(reports()) == n })
	done := map[string]bool{}
	pids := map[string]int{}
	for _, l := range readLines(t, marks) {
		f := strings.Split(l, "_")
		if f[0] != "done" {
			continue
		}
		if done[f[1]] {
			t.Errorf("message %s analyzed to completion twice", f[1])
		}
		done[f[1]] = true
		pids[f[2]]++
	}
	if len(done) != n {
		t.Errorf("%d messages analyzed, want %d", len(done), n)
	}
	if len(pids) != 2 {
		t.Errorf("work split over %d processes (%v), want both", len(pids), pids)
	}
	for id, k := range reports() {
		if k != 1 {
			t.Errorf("%s reported %d times", id, k)
		}
	}
}

func TestReporterKilledMidJoinLosesAndDoublesNothing(t *testing.T) {
	c := listening(t)
	ctx := context.Background()
	if err := c.Setup(ctx, nil, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	reports := collect(t, c)
	const n = 50
	publishResults := func(analyzer string) {
		for i := 0; i < n; i++ {
			id := MessageID("support", fmt.Sprint(i))
			rm := ResultMessage{ID: id, Analyzer: analyzer, Result: analyzers.Result{Analyzer: analyzer, Status: analyzers.StatusOK, Verdict: analyzers.VerdictClean},
				Envelope: report.Envelope{ID: id, Mailbox: "support", Subject: fmt.Sprint(i)}}
			b, _ := json.Marshal(rm)
			if _, err := c.JS.Publish(ctx, SubjectResultPrefix+analyzer, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := startChild(t, "reporter", c.ClientURL())
	publishResults("a")
	// Let the reporter take them all, then kill it while every join waits
	// for "b".
	waitFor(t, "the reporter to hold the results", 20*time.Second, func() bool {
		info, err := c.JS.Consumer(ctx, StreamResults, ConsumerReporter)
		if err != nil {
			return false
		}
		ci, err := info.Info(ctx)
		return err == nil && ci.NumAckPending == n
	})
	kill9(t, first)
	publishResults("b")
	startChild(t, "reporter", c.ClientURL())
	waitFor(t, "all reports", 30*time.Second, func() bool { return len(reports()) == n })
	time.Sleep(500 * time.Millisecond)
	for id, k := range reports() {
		if k != 1 {
			t.Errorf("%s reported %d times", id, k)
		}
	}
	s, _ := c.JS.Stream(ctx, StreamReports)
	info, _ := s.Info(ctx)
	if info.State.Msgs != n {
		t.Errorf("REPORTS holds %d, want %d", info.State.Msgs, n)
	}
}
