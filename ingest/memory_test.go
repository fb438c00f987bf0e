package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/internal/dovecottest"
	"github.com/mailsift/mailsift/pipeline"
)

// TestLargeMessageMemory ingests a 100 MB message from Dovecot in a
// process of its own and measures that process: the body must stream from
// POP3 into the object store, never be held whole.
func TestLargeMessageMemory(t *testing.T) {
	const size = 100 << 20
	e := newDove(t)
	path := e.d.Deliver(t, e.user, 1, []byte("placeholder\n"))
	sum, n := writeLarge(t, path, size)
	mb := e.mailbox("none")
	mb.MaxMessageSize = config.ByteSize(2 * size)

	start := time.Now()
	rep := startChild(t, e.nats.ClientURL(), mb).wait(t, 5*time.Minute)
	took := time.Since(start)
	if rep.Err != "" {
		t.Fatal(rep.Err)
	}
	if rep.Published != 1 || rep.Bytes != n {
		t.Fatalf("child published %d messages, %d bytes; want 1 of %d", rep.Published, rep.Bytes, n)
	}
	const mib = 1 << 20
	t.Logf("ingesting one message of %.1f MB took %v: peak live heap %.1f MiB, heap from the OS %.1f MiB, peak RSS %.1f MiB (%.1f MiB before the poll)",
		float64(n)/1e6, took.Round(time.Millisecond), float64(rep.PeakHeap)/mib, float64(rep.HeapSys)/mib, float64(rep.MaxRSS)/mib, float64(rep.BaselineRSS)/mib)
	if rep.PeakHeap > 32*mib || rep.MaxRSS > 96*mib {
		t.Errorf("a %d MiB message needed a live heap of %.1f MiB and an RSS of %.1f MiB: it is being held, not streamed",
			size/mib, float64(rep.PeakHeap)/mib, float64(rep.MaxRSS)/mib)
	}

	// What went into the object store is the message, byte for byte.
	ctx := context.Background()
	msgs := onStreamHeaders(t, e.nats)
	if len(msgs) != 1 || msgs[0].Get(pipeline.HeaderBlob) == "" {
		t.Fatalf("MAIL holds %d messages, want one referring to the object store", len(msgs))
	}
	store, err := e.nats.JS.ObjectStore(ctx, pipeline.BucketBlobs)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := store.Get(ctx, msgs[0].Get(pipeline.HeaderBlob))
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	h := sha256.New()
	got, err := io.Copy(h, obj)
	if err != nil {
		t.Fatal(err)
	}
	if got != n || !bytes.Equal(h.Sum(nil), sum) {
		t.Fatalf("object store holds %d bytes that differ from the %d stored on the server", got, n)
	}
	if left := e.onServer(); len(left) != 0 {
		t.Errorf("%d messages left on the server", len(left))
	}
}

// writeLarge writes a message of about size bytes with CRLF endings, so
// what Dovecot sends is what is stored, and returns its digest and length.
// Every 1000th line starts with a dot.
func writeLarge(t *testing.T, path string, size int) ([]byte, int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	n, _ := fmt.Fprintf(w, "From: big@example.org\r\nSubject: one hundred megabytes\r\nContent-Type: text/plain\r\n\r\n")
	total := int64(n)
	line := bytes.Repeat([]byte("0123456789"), 7)
	for i := 0; total < int64(size); i++ {
		if i%1000 == 0 {
			w.WriteByte('.')
			total++
		}
		w.Write(line)
		w.WriteString("\r\n")
		total += int64(len(line)) + 2
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil), total
}

// onStreamHeaders returns the headers of every message on MAIL.
func onStreamHeaders(t *testing.T, conn *pipeline.Conn) []nats.Header {
	t.Helper()
	ctx := context.Background()
	s, err := conn.JS.Stream(ctx, pipeline.StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []nats.Header
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Header)
	}
	return out
}

// BenchmarkPollDovecot is one poll of 1,000 messages of 10 KB (or 200 of
// 500 KB) from Dovecot into a fresh JetStream store with file storage,
// every message acknowledged and its state written: the mailsift row of
// bench/ingest.sh, for profiling with -cpuprofile.
//
//	go test -run '^$' -bench PollDovecot -benchtime 10x -cpuprofile cpu.out ./ingest/
func BenchmarkPollDovecot(b *testing.B) {
	for _, set := range []struct {
		name string
		n    int
		size int
	}{{"1000x10KB", 1000, 10 << 10}, {"200x500KB", 200, 500 << 10}} {
		b.Run(set.name, func(b *testing.B) {
			d := dovecottest.Start(b, "bench")
			b.Setenv(passwordEnv, d.Password)
			rng := rand.New(rand.NewPCG(uint64(set.n), 10))
			var total int64
			for i := range set.n {
				m := synth(rng, i, set.size)
				total += int64(len(dovecottest.Wire(m)))
				d.Deliver(b, "bench", i, m)
			}
			host, port, _ := net.SplitHostPort(d.Addr)
			p, _ := strconv.Atoi(port)
			mb := Mailbox{Name: "bench", Host: host, Port: p, TLS: "none", Username: "bench", PasswordEnv: passwordEnv, Delete: "never"}
			mb.Defaults()
			b.SetBytes(total)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg := pipeline.Defaults()
				cfg.StoreDir = b.TempDir()
				ctx := context.Background()
				conn, err := pipeline.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				if err := conn.Setup(ctx, nil, pipeline.DefaultWorker()); err != nil {
					b.Fatal(err)
				}
				kv, err := conn.JS.KeyValue(ctx, pipeline.BucketUIDL)
				if err != nil {
					b.Fatal(err)
				}
				poller := NewPoller(conn, kv, []Mailbox{mb}, nil, slog.New(slog.DiscardHandler))
				b.StartTimer()
				st, err := poller.Poll(ctx, &mb)
				b.StopTimer()
				if err != nil || len(st.Published) != set.n {
					b.Fatalf("poll: %d published, %v", len(st.Published), err)
				}
				conn.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(set.n*b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
