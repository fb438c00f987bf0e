package pop3

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

// BenchmarkFetch fetches 1,000 messages of 10 KB per op (a whole session:
// dial, login, LIST+UIDL, pipelined RETR, QUIT), discarding the bodies,
// from the package's own server and from a private Dovecot, as in
// shared/bench/pop3-peers.sh. Reports msg/s and MB/s (10^6 bytes).
//
//	go test -run '^$' -bench BenchmarkFetch -benchtime 20x ./ingest/pop3/
func BenchmarkFetch(b *testing.B) {
	const n, size = 1000, 10 << 10
	rng := rand.New(rand.NewPCG(7, 1939))
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = synthMessage(rng, i+1, size)
	}
	ca := dovecottest.NewCA(b)

	b.Run("own", func(b *testing.B) {
		srv := startOwnServer(b, NewDirBackend(writeEML(b, contents)), ca.Server)
		cr := Credentials{Username: testUser, Password: testPass}
		for _, p := range []int{DefaultPipeline, 1} {
			b.Run(fmt.Sprintf("plain/pipeline=%d", p), func(b *testing.B) {
				benchFetch(b, Config{Addr: srv.Addr, TLS: TLSNone, Pipeline: p}, cr, n)
			})
		}
		b.Run("tls", func(b *testing.B) {
			benchFetch(b, Config{Addr: srv.TLSAddr, TLS: TLSImplicit, CAFile: ca.CAFile}, cr, n)
		})
	})

	b.Run("dovecot", func(b *testing.B) {
		d := dovecottest.Start(b, "bench")
		for i, c := range contents {
			d.Deliver(b, "bench", i, c)
		}
		cr := Credentials{Username: "bench", Password: d.Password}
		for _, p := range []int{DefaultPipeline, 1} {
			b.Run(fmt.Sprintf("plain/pipeline=%d", p), func(b *testing.B) {
				benchFetch(b, Config{Addr: d.Addr, TLS: TLSNone, Pipeline: p}, cr, n)
			})
		}
		b.Run("tls", func(b *testing.B) {
			benchFetch(b, Config{Addr: d.TLSAddr, TLS: TLSImplicit, CAFile: d.CA.CAFile}, cr, n)
		})
	})
}

// BenchmarkFetchLarge is BenchmarkFetch with 200 messages of 500 KB from
// Dovecot, where bandwidth rather than round trips sets the pace.
func BenchmarkFetchLarge(b *testing.B) {
	const n, size = 200, 500 << 10
	rng := rand.New(rand.NewPCG(8, 1939))
	d := dovecottest.Start(b, "large")
	for i := range n {
		d.Deliver(b, "large", i, synthMessage(rng, i+1, size))
	}
	cr := Credentials{Username: "large", Password: d.Password}
	b.Run("dovecot/plain", func(b *testing.B) {
		benchFetch(b, Config{Addr: d.Addr, TLS: TLSNone}, cr, n)
	})
	b.Run("dovecot/tls", func(b *testing.B) {
		benchFetch(b, Config{Addr: d.TLSAddr, TLS: TLSImplicit, CAFile: d.CA.CAFile}, cr, n)
	})
}

func benchFetch(b *testing.B, cfg Config, cr Credentials, want int) {
	ctx := context.Background()
	session := func() int64 {
		c, err := Dial(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(ctx, cr); err != nil {
			b.Fatal(err)
		}
		msgs, err := c.Messages(ctx)
		if err != nil || len(msgs) != want {
			b.Fatalf("Messages: %d, %v", len(msgs), err)
		}
		ids := make([]int, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		var total int64
		err = c.Fetch(ctx, ids, func(_ MessageInfo, body io.Reader) error {
			n, err := io.Copy(io.Discard, body)
			total += n
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Quit(ctx); err != nil {
			b.Fatal(err)
		}
		return total
	}
	// Warm up: the server's caches (Dovecot builds its index here) and ours.
	perOp := session()
	b.SetBytes(perOp)
	b.ReportAllocs()
	for b.Loop() {
		session()
	}
	b.ReportMetric(float64(want*b.N)/b.Elapsed().Seconds(), "msg/s")
}
