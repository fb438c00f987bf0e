package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/report"
)

// benchMix is the message mix of the pipeline benchmarks: every sample of
// examples/mail plus generated messages (plain, HTML, with attachments) so
// the mix is not dominated by the samples' small sizes.
func benchMix(b *testing.B) [][]byte {
	b.Helper()
	files, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("samples: %v", err)
	}
	var mix [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		mix = append(mix, raw)
	}
	for i := 0; i < 65; i++ {
		mix = append(mix, generated(i))
	}
	return mix
}

func generated(i int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "From: Customer %d <c%d@example.com>\r\nTo: support@example.org\r\nSubject: Order %d question\r\n", i, i, 1000+i)
	fmt.Fprintf(&buf, "Message-ID: <gen-%d@example.com>\r\nDate: Tue, 24 Nov 2026 10:%02d:00 +0000\r\nMIME-Version: 1.0\r\n", i, i%60)
	switch i % 3 {
	case 0:
		buf.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		for j := 0; j < 40; j++ {
			buf.WriteString("Hello, my order has not arrived yet and I would like to know when it ships. Thanks!\r\n")
		}
	case 1:
		buf.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
		for j := 0; j < 30; j++ {
			fmt.Fprintf(&buf, "<p>Line %d, see <a href=\"https://shop.example.com/o/%d\">your order</a>.</p>\r\n", j, i)
		}
		buf.WriteString("</body></html>\r\n")
	default:
		buf.WriteString("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nInvoice attached.\r\n")
		buf.WriteString("--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		for j := 0; j < 100; j++ {
			buf.WriteString("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\r\n")
		}
		buf.WriteString("--b--\r\n")
	}
	return buf.Bytes()
}

// runBenchPipeline runs workers and the reporter for every local analyzer on
// an embedded NATS with file storage, puts n messages on MAIL at `rate`
// messages a second (0: as fast as possible) and waits for the last report.
// It returns the elapsed time and the fetch-to-report latencies.
func runBenchPipeline(b *testing.B, mix [][]byte, n int, rate float64) (time.Duration, []time.Duration) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Start each run with the disk quiet: the writeback of the previous
	// run's streams (and the discards of their removal) would otherwise
	// fall into this run's time.
	syscall.Sync()
	f := defaultFile()
	f.NATS.StoreDir = b.TempDir()
	f.Worker.Concurrency = 8
	set, err := buildAnalyzers(&f, nil, true)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := pipeline.Connect(ctx, f.NATS, log)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Setup(ctx, set.names(), f.Worker); err != nil {
		b.Fatal(err)
	}
	if err := set.attach(ctx, conn.State()); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); _ = pipeline.NewWorker(conn, f.Worker, set.list, nil, log).Run(ctx) }()
	go func() {
		defer wg.Done()
		_ = pipeline.NewReporter(conn, f.Reporter, set.names(), set.security, nil, log).Run(ctx)
	}()

	var mu sync.Mutex
	var lat []time.Duration
	done := make(chan struct{})
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(ready)
		_ = conn.Follow(ctx, pipeline.FollowOptions{All: true}, func(r *report.Report, _ []byte) error {
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, r.ReportedAt.Sub(*r.ReceivedAt))
			if len(lat) == n {
				close(done)
			}
			return nil
		})
	}()
	<-ready
	start := time.Now()
	var pending []*pipeline.Pending
	for i := 0; i < n; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		uidl := fmt.Sprintf("bench-%d", i)
		raw := mix[i%len(mix)]
		// Ingest knows each size from LIST, and so does this.
		p, err := conn.PublishAsync(ctx, pipeline.Mail{Mailbox: "bench", UIDL: uidl, ID: pipeline.MessageID("bench", uidl),
			Size: int64(len(raw)), Body: bytes.NewReader(raw)})
		if err != nil {
			b.Fatal(err)
		}
		pending = append(pending, p)
		if len(pending) >= 256 {
			for _, p := range pending {
				if _, err := p.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			pending = pending[:0]
		}
	}
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d reports after 5 minutes", len(lat), n)
	}
	return time.Since(start), lat
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPipeline puts 10,000 messages on MAIL as fast as it takes them
// and measures to the last report.
// The benchmarks run with the collector set as the binary sets it.
func gcAsMain(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(400)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
}

func BenchmarkPipeline(b *testing.B) {
	gcAsMain(b)
	mix := benchMix(b)
	const n = 10_000
	for i := 0; i < b.N; i++ {
		took, lat := runBenchPipeline(b, mix, n, 0)
		b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkPipelineAt500 offers 500 messages a second for 10 s and reports
// the fetch-to-report latency.
func BenchmarkPipelineAt500(b *testing.B) {
	gcAsMain(b)
	mix := benchMix(b)
	const n = 5_000
	for i := 0; i < b.N; i++ {
		_, lat := runBenchPipeline(b, mix, n, 500)
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkScan analyzes the same mix with no NATS, as `mailsift scan`
// does: the cost of analysis alone, for the pipeline's overhead.
func BenchmarkScan(b *testing.B) {
	gcAsMain(b)
	mix := benchMix(b)
	f := defaultFile()
	set, err := buildAnalyzers(&f, nil, true)
	if err != nil {
		b.Fatal(err)
	}
	policy := report.Policy{Security: set.security, Thresholds: f.Reporter.Thresholds}
	ctx := context.Background()
	const n = 10_000
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var wg sync.WaitGroup
		work := make(chan []byte)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for raw := range work {
					m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
					if err != nil {
						continue
					}
					res := analyzers.RunAll(ctx, set.list, m, time.Minute)
					_ = report.Build(report.EnvelopeOf(m), res, policy, time.Now())
				}
			}()
		}
		for j := 0; j < n; j++ {
			work <- mix[j%len(mix)]
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	}
}
