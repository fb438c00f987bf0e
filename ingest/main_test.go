package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailsift/mailsift/pipeline"
)

// The fault and memory tests run ingest as a separate process (this test
// binary, re-executed) connected to the test's NATS server over TCP, as
// `mailsift run --roles ingest` would be, so that it can be killed with
// SIGKILL, as a crash or an OOM kill would, and so that its memory can be
// measured apart from NATS and the test.

const (
	childEnv        = "MAILSIFT_INGEST_CHILD"
	childNATSEnv    = "MAILSIFT_INGEST_CHILD_NATS"
	childMailboxEnv = "MAILSIFT_INGEST_CHILD_MAILBOX"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// childReport is what a child prints as its last line.
type childReport struct {
	Err       string `json:"err,omitempty"`
	Published int    `json:"published"`
	Deleted   int    `json:"deleted"`
	Bytes     int64  `json:"bytes"`
	// Memory: the peak of live heap objects sampled every 5 ms, the heap
	// the runtime took from the OS at the end, and the process's peak
	// resident set.
	PeakHeap    uint64 `json:"peak_heap"`
	HeapSys     uint64 `json:"heap_sys"`
	MaxRSS      int64  `json:"max_rss"`
	BaselineRSS int64  `json:"baseline_rss"` // peak RSS before the poll began
}

// runChild polls one mailbox once: the ingest role of a mailsift process.
func runChild() int {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		out.Encode(childReport{Err: err.Error()})
		return 1
	}
	var mb Mailbox
	if err := json.Unmarshal([]byte(os.Getenv(childMailboxEnv)), &mb); err != nil {
		return fail(err)
	}
	cfg := pipeline.Defaults()
	cfg.URL = os.Getenv(childNATSEnv)
	conn, err := pipeline.Connect(ctx, cfg, log)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	kv, err := conn.JS.KeyValue(ctx, pipeline.BucketUIDL)
	if err != nil {
		return fail(err)
	}
	p := NewPoller(conn, kv, []Mailbox{mb}, nil, log)

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	rep := childReport{BaselineRSS: maxRSS()}
	fmt.Println("polling")
	st, err := p.Poll(ctx, &mb)
	close(stop)
	<-sampled
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.Published, rep.Deleted, rep.Bytes = len(st.Published), st.Deleted, st.Bytes
	rep.PeakHeap, rep.HeapSys, rep.MaxRSS = peak.Load(), ms.HeapSys, maxRSS()
	if err != nil {
		rep.Err = err.Error()
	}
	out.Encode(rep)
	return 0
}

// maxRSS is the peak resident set of this process in bytes: VmHWM, since
// getrusage's ru_maxrss carries over the parent's peak through fork and
// exec.
func maxRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib << 10
		}
	}
	return 0
}

// child is a running ingest process.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

// startChild starts an ingest process polling mb into the NATS server at
// natsURL and waits until it is about to poll.
func startChild(t *testing.T, natsURL string, mb Mailbox) *child {
	t.Helper()
	cfg, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childNATSEnv+"="+natsURL, childMailboxEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 4)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case line := <-c.lines:
		if line != "polling" {
			t.Fatalf("ingest child did not start: %s", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ingest child did not start within 30s")
	}
	return c
}

// exited waits for the child to end and reports whether SIGKILL ended it.
func (c *child) exited(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("ingest child still running after %s", timeout)
	}
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// wait waits for the child to finish and returns its report.
func (c *child) wait(t *testing.T, timeout time.Duration) childReport {
	t.Helper()
	var last string
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				_ = c.cmd.Wait()
				var rep childReport
				if err := json.Unmarshal([]byte(last), &rep); err != nil {
					t.Fatalf("ingest child: no report (last line %q): %v", last, err)
				}
				return rep
			}
			if strings.HasPrefix(line, "{") {
				last = line
			}
		case <-deadline:
			t.Fatalf("ingest child did not finish within %s", timeout)
		}
	}
}
