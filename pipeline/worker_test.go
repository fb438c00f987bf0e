package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
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
