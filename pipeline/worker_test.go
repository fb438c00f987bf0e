package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// TestWorkerKeepsPullingABacklog runs seven cheap analyzers over a backlog
// on MAIL and fails when one of them is given nothing for 5 s while the
// stream still holds its messages.
//
// With jetstream's Consume this failed in 6 of 8 runs (and in about one
// BenchmarkPipeline run of four): its refill is lost when the messages of
// the request in flight all arrive while the next request is being sent,
// and the consumer then waits for two missed heartbeats, 30 s. That window
// opens when the sending thread is preempted, so the test makes it likely
// the way a loaded machine does: more Ps than cores, for the kernel to
// preempt, and a connection kept busy by another publisher.
func TestWorkerKeepsPullingABacklog(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	c := startConn(t, t.TempDir())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wc := DefaultWorker()
	wc.Concurrency = 4
	const n, na = 5000, 7
	var names []string
	for i := range na {
		names = append(names, fmt.Sprintf("quick%d", i))
	}
	if err := c.Setup(ctx, names, wc); err != nil {
		t.Fatal(err)
	}
	var pending []*Pending
	for i := range n {
		uidl := fmt.Sprintf("u%d", i)
		p, err := c.PublishAsync(ctx, Mail{Mailbox: "support", UIDL: uidl, ID: MessageID("support", uidl),
			Body: bytes.NewReader(mailBytes(uidl, "hello"))})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}

	var analyzed [na]atomic.Int64
	var as []analyzers.Analyzer
	for i, name := range names {
		as = append(as, fn{name, func(context.Context, *analyzers.Message) (analyzers.Result, error) {
			// About what the cheaper real analyzers take.
			for start := time.Now(); time.Since(start) < 100*time.Microsecond; {
			}
			analyzed[i].Add(1)
			return analyzers.Result{Status: analyzers.StatusOK}, nil
		}})
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		noise := make([]byte, 2048)
		for ctx.Err() == nil {
			_ = c.NC.Publish("noise", noise)
		}
	}()
	go func() { defer wg.Done(); _ = NewWorker(c, wc, as, nil, testLog(t)).Run(ctx) }()

	var last [na]int64
	var lastAt [na]time.Time
	for i := range lastAt {
		lastAt[i] = time.Now()
	}
	for done := 0; done < na; {
		time.Sleep(50 * time.Millisecond)
		done = 0
		for i := range analyzed {
			got := analyzed[i].Load()
			switch {
			case got >= n:
				done++
			case got != last[i]:
				last[i], lastAt[i] = got, time.Now()
			case time.Since(lastAt[i]) > 5*time.Second:
				t.Fatalf("%s was given nothing for 5 s after %d of %d messages, the rest waiting on MAIL", names[i], got, n)
			}
		}
	}
}

// TestWorkerResumesAfterServerRestart restarts the NATS server under a
// worker connected from elsewhere: the pull request the worker had
// waiting went with the server, and mail published after the restart
// must still be analyzed soon, not after the request's 30 s expiry.
func TestWorkerResumesAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Defaults()
	cfg.StoreDir = dir
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Connect(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Setup(ctx, []string{"count"}, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	cfg.Listen = strings.TrimPrefix(url, "nats://") // the same port again after the restart
	remote := Defaults()
	remote.URL = url
	wconn, err := Connect(ctx, remote, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer wconn.Close()
	var analyzed atomic.Int64
	count := fn{"count", func(context.Context, *analyzers.Message) (analyzers.Result, error) {
		analyzed.Add(1)
		return analyzers.Result{Status: analyzers.StatusOK}, nil
	}}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = NewWorker(wconn, DefaultWorker(), []analyzers.Analyzer{count}, nil, testLog(t)).Run(ctx)
	}()

	publish := func(c *Conn, uidl string) {
		t.Helper()
		if _, err := c.Publish(ctx, Mail{Mailbox: "support", UIDL: uidl, ID: MessageID("support", uidl), Body: bytes.NewReader(mailBytes(uidl, "x"))}); err != nil {
			t.Fatal(err)
		}
	}
	publish(srv, "before")
	waitFor(t, "the mail from before the restart", 10*time.Second, func() bool { return analyzed.Load() == 1 })
	time.Sleep(200 * time.Millisecond) // the worker's next pull request waits on the server

	srv.Close()
	srv, err = Connect(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	waitFor(t, "the worker to reconnect", 10*time.Second, wconn.NC.IsConnected)
	start := time.Now()
	publish(srv, "after")
	// Two missed heartbeats end the lost request (4 s); without them it
	// took 9 s here.
	waitFor(t, "the mail from after the restart", 6*time.Second, func() bool { return analyzed.Load() == 2 })
	t.Logf("analyzed %v after the publish", time.Since(start).Round(time.Millisecond))
}
