package ingest

// Fault tests against a real Dovecot. Each asserts, besides its own
// point, that every message reaches MAIL exactly once and that none is
// deleted from the server before its PubAck: checkNoLoss after the fault,
// checkExactlyOnce after a clean poll, and the proxy's QUIT guard where
// the session is plain.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/internal/dovecottest"
	"github.com/mailsift/mailsift/pipeline"
)

// TestKilledDuringPolls runs ingest as a process and kills it with SIGKILL
// at random points of its polls, new mail arriving between them. Each
// round picks the point at random: a random time into the poll
// (connecting, logging in, listing, fetching, publishing), the start of a
// random RETR reply, a few milliseconds after one (publishing and writing
// state), a random DELE, or the moment QUIT is on its way to the server.
func TestKilledDuringPolls(t *testing.T) {
	const wantKills = 24
	e := newDove(t)
	proxy := startProxy(t, "127.0.0.1:0", e.d.Addr)
	checked := e.guardDeletes(proxy)
	mb := via(e.mailbox("none"), proxy)
	mb.Auth = "user" // one line each way, which the proxy follows
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for i := range 100 {
		e.deliver(synth(rng, i, 1000+rng.IntN(30_000)))
	}

	var (
		current atomic.Pointer[child]
		point   atomic.Pointer[func(ev string, n int) bool] // true: kill now
	)
	strike := func(ev string, n int) {
		if f := point.Load(); f != nil && (*f)(ev, n) {
			point.Store(nil)
			if c := current.Load(); c != nil {
				c.cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	}
	proxy.mu.Lock()
	guard := proxy.onQuit
	proxy.onRetr = func(_, n int) { strike("retr", n) }
	proxy.onDele = func(_, n int) { strike("dele", n) }
	proxy.onQuit = func(uidls []string) {
		guard(uidls)
		strike("quit", 0)
	}
	proxy.mu.Unlock()

	// Random times are spread over the time a poll takes, learnt from the
	// polls that finish before their kill.
	pollTime := 300 * time.Millisecond
	kills, finished := 0, 0
	points := map[string]int{}
	for round := 0; kills < wantKills && round < 4*wantKills; round++ {
		for range 20 + rng.IntN(60) {
			e.deliver(synth(rng, e.n, 1000+rng.IntN(30_000)))
		}
		waiting := len(e.onServer())
		k := 1 + rng.IntN(waiting)
		var at func(ev string, n int) bool
		kind := []string{"time", "retr", "after retr", "dele", "quit"}[rng.IntN(5)]
		switch kind {
		case "retr":
			at = func(ev string, n int) bool { return ev == "retr" && n == k }
		case "after retr":
			delay := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			at = func(ev string, n int) bool {
				if ev == "retr" && n == k {
					time.AfterFunc(delay, func() { strike("timer", 0) })
				}
				return ev == "timer"
			}
		case "dele":
			at = func(ev string, n int) bool { return ev == "dele" && n == k }
		case "quit":
			at = func(ev string, _ int) bool { return ev == "quit" }
		}
		if at != nil {
			point.Store(&at)
		}
		c := startChild(t, e.nats.ClientURL(), mb)
		current.Store(c)
		start := time.Now()
		if kind == "time" {
			time.Sleep(time.Duration(rng.Int64N(int64(pollTime))))
			c.cmd.Process.Signal(syscall.SIGKILL)
		}
		killed := c.exited(t, time.Minute)
		point.Store(nil)
		current.Store(nil)
		if killed {
			kills++
			points[kind]++
		} else {
			finished++
			if kind == "time" {
				pollTime = max(50*time.Millisecond, time.Since(start))
			}
		}
		e.checkNoLoss()
		if t.Failed() {
			t.Fatalf("after round %d (%d kills, the last at %s)", round+1, kills, kind)
		}
	}
	if kills < wantKills {
		t.Fatalf("only %d of the polls were killed while running", kills)
	}
	rep := startChild(t, e.nats.ClientURL(), mb).wait(t, 2*time.Minute)
	if rep.Err != "" {
		t.Fatalf("clean poll after the kills: %s", rep.Err)
	}
	if left := e.onServer(); len(left) != 0 {
		t.Errorf("%d messages left on the server after a clean poll", len(left))
	}
	e.checkExactlyOnce()
	// Where the kills struck, as far as the server could tell: sessions
	// that ended before any RETR (connecting, logging in, listing), during
	// the RETRs, after DELEs but before QUIT, and after QUIT.
	var early, fetching, deleting, quit int
	for _, s := range proxy.sessionsEnded() {
		switch {
		case s.quit:
			quit++
		case s.deles > 0:
			deleting++
		case s.retrs > 0:
			fetching++
		default:
			early++
		}
	}
	t.Logf("%d messages; %d polls killed %v, %d finished first; sessions ended before RETR %d, during RETRs %d, after DELE %d, after QUIT %d; %d deletions checked at QUIT",
		len(e.files), kills, points, finished, early, fetching, deleting, quit, *checked)
}

// TestConnectionCutMidRETR cuts the line in the middle of a message: the
// poll fails as truncated, nothing is deleted (QUIT was never sent), no
// part of the cut message is published, and the next poll brings the rest
// without publishing anything twice.
func TestConnectionCutMidRETR(t *testing.T) {
	tests := []struct {
		name string
		f    fault
	}{
		{"first byte of the first message", fault{cut: true, retr: 1, bytes: 0}},
		{"inside the 25th message", fault{cut: true, retr: 25, bytes: 3000}},
		{"last line of the last message", fault{cut: true, retr: 40, bytes: 2990}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDove(t)
			proxy := startProxy(t, "127.0.0.1:0", e.d.Addr)
			checked := e.guardDeletes(proxy)
			rng := rand.New(rand.NewPCG(4, 25))
			for i := range 40 {
				e.deliver(synth(rng, i, 3000))
			}
			mb := via(e.mailbox("none"), proxy)
			mb.Auth = "user"
			p := e.poller(nil, mb)
			proxy.setFault(tt.f)
			st, err := p.Poll(context.Background(), &mb)
			if !errors.Is(err, pop3.ErrTruncated) || errorKind(err) != "connection" {
				t.Fatalf("err = %v (kind %s), want a truncation", err, errorKind(err))
			}
			if left := len(e.onServer()); left != 40 {
				t.Fatalf("%d messages on the server after the cut, want all 40", left)
			}
			first := len(st.Published)
			if first >= tt.f.retr {
				t.Errorf("%d published, but the cut was in message %d", first, tt.f.retr)
			}
			e.checkNoLoss()
			// The next poll publishes the rest and deletes everything: what
			// the first one published is known from its state.
			st, err = p.Poll(context.Background(), &mb)
			if err != nil {
				t.Fatal(err)
			}
			if first+len(st.Published) != 40 || st.Duplicates != 0 {
				t.Errorf("published %d, then %d with %d duplicates; want 40 in all, none twice", first, len(st.Published), st.Duplicates)
			}
			if left := len(e.onServer()); left != 0 {
				t.Errorf("%d left on the server", left)
			}
			e.checkExactlyOnce()
			if *checked != 40 {
				t.Errorf("QUIT guard saw %d deletions, want 40", *checked)
			}
		})
	}
}

// TestServerStalls: a server that stops answering gives a timeout error
// after the mailbox's timeout, never a hang, and no half message.
func TestServerStalls(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		name string
		f    fault
		// messages the server deleted: the stall after QUIT comes when the
		// server has done its part
		deleted int
	}{
		{"before the greeting", fault{stall: true}, 0},
		{"inside the 7th message", fault{stall: true, retr: 7, bytes: 1500}, 0},
		{"the reply to QUIT", fault{stall: true, afterQuit: true}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDove(t)
			proxy := startProxy(t, "127.0.0.1:0", e.d.Addr)
			checked := e.guardDeletes(proxy)
			rng := rand.New(rand.NewPCG(5, 7))
			for i := range 12 {
				e.deliver(synth(rng, i, 4000))
			}
			mb := via(e.mailbox("none"), proxy)
			mb.Auth, mb.Timeout = "user", timeout
			p := e.poller(nil, mb)
			proxy.setFault(tt.f)
			start := time.Now()
			_, err := p.Poll(context.Background(), &mb)
			took := time.Since(start)
			if !errors.Is(err, pop3.ErrTimeout) || errorKind(err) != "timeout" {
				t.Fatalf("err = %v (kind %s), want a timeout", err, errorKind(err))
			}
			if took > 4*timeout {
				t.Errorf("the poll took %v with a %v timeout", took, timeout)
			}
			// Dovecot ends a session whose client went away on its own time;
			// wait until it has.
			waitUntil(t, "the server to settle", 15*time.Second, func() bool { return len(e.onServer()) == 12-tt.deleted })
			e.checkNoLoss()
			if _, err := p.Poll(context.Background(), &mb); err != nil {
				t.Fatal(err)
			}
			if left := len(e.onServer()); left != 0 {
				t.Errorf("%d left on the server", left)
			}
			e.checkExactlyOnce()
			if *checked != 12 {
				t.Errorf("QUIT guard saw %d deletions, want 12", *checked)
			}
			// Mail the server deleted while its answer was lost leaves no
			// state behind either.
			known, err := p.known(context.Background(), mb.Name)
			if err != nil || len(known) != 12-tt.deleted {
				t.Errorf("ingest state holds %d entries (%v)", len(known), err)
			}
		})
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATSUnavailable stops NATS in the middle of a poll: the poll fails
// as a publish error, deletes only what JetStream acknowledged before, and
// the poller's loop retries until NATS is back and everything is in.
func TestNATSUnavailable(t *testing.T) {
	e := newDove(t)
	// Ingest's NATS, apart from the Dovecot fixture's, so that it can be
	// stopped and started again on the same port and store.
	e.nats.Close()
	store, port := t.TempDir(), freePort(t)
	addr := "127.0.0.1:" + port
	e.nats = startNATS(t, store, addr)
	e.kv = nil

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := pipeline.Defaults()
	cfg.URL = "nats://" + addr
	ingestConn, err := pipeline.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ingestConn.Close()
	kv, err := ingestConn.JS.KeyValue(ctx, pipeline.BucketUIDL)
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(6, 60))
	for i := range 60 {
		e.deliver(synth(rng, i, 8000))
	}
	proxy := startProxy(t, "127.0.0.1:0", e.d.Addr)
	var (
		mu      sync.Mutex
		deletes []string // UIDLs deleted by QUIT while NATS was down
		down    = make(chan struct{})
	)
	proxy.mu.Lock()
	proxy.onRetr = func(session, n int) {
		if session == 1 && n == 30 {
			e.nats.Close()
			close(down)
		}
	}
	proxy.onQuit = func(uidls []string) {
		mu.Lock()
		deletes = append(deletes, uidls...)
		mu.Unlock()
	}
	proxy.mu.Unlock()

	mb := via(e.mailbox("none"), proxy)
	mb.Auth, mb.PollInterval = "user", time.Second
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	m := NewMetrics(nil)
	p := NewPoller(ingestConn, kv, []Mailbox{mb}, m, log)
	ran := make(chan struct{})
	go func() { p.Run(ctx); close(ran) }()

	<-down
	// The first poll ends with a publish error; retries fail while NATS is
	// away.
	waitUntil(t, "a failed poll", 30*time.Second, func() bool { return counter(m.Errors.WithLabelValues("support", "publish")) > 0 })
	if left := len(e.onServer()); left == 0 {
		t.Fatal("everything was deleted while NATS was down")
	}
	time.Sleep(1500 * time.Millisecond)
	e.nats = startNATS(t, store, addr)
	e.kv = nil
	waitUntil(t, "the retries to bring everything in", 60*time.Second, func() bool { return len(e.onServer()) == 0 })
	cancel()
	<-ran

	// What QUIT deleted while NATS was down had been acknowledged.
	ids := map[string]bool{}
	for _, m := range onStream(t, e.nats) {
		ids[m.id] = true
	}
	mu.Lock()
	for _, u := range deletes {
		if !ids[pipeline.MessageID("support", u)] {
			t.Errorf("%s was deleted but is not on MAIL", u)
		}
	}
	mu.Unlock()
	e.checkExactlyOnce()
	logMu.Lock()
	failures := strings.Count(logs.String(), "poll failed; retrying")
	t.Logf("log:\n%s", logs.String())
	logMu.Unlock()
	if failures != 1 {
		t.Errorf("the outage was logged %d times at error level, want once", failures)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestWrongPassword: an [AUTH] failure touches nothing and is logged once,
// with the next try ten minutes away rather than at the poll interval.
// (TestDovecotTLSAndAuthentication checks the typed errors of refused
// sessions; pop3's own tests check ErrAuth against Dovecot.)
func TestWrongPassword(t *testing.T) {
	e := newDove(t) // its own Dovecot: a failed login slows down later ones
	for i := range 3 {
		e.deliver([]byte("Subject: s\n\nbody " + string(rune('a'+i)) + "\n"))
	}
	const wrong = "not-the-password"
	t.Setenv(passwordEnv, wrong)
	mb := e.mailbox("starttls")
	mb.PollInterval = time.Second
	var logs bytes.Buffer
	var logMu sync.Mutex
	m := NewMetrics(nil)
	p := NewPoller(e.nats, e.state(), []Mailbox{mb}, m, slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil)))

	// Dovecot answers the first failed login at once and slows down later
	// ones from the same address, so the loop gets the only try.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.Run(ctx)
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if n := strings.Count(out, "level=ERROR"); n != 1 || !strings.Contains(out, "retry_in=") {
		t.Errorf("want one error line with the retry time, got:\n%s", out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("the log shows the password:\n%s", out)
	}
	if !strings.Contains(out, "[AUTH]") {
		t.Errorf("the error line does not say it is an authentication failure:\n%s", out)
	}
	if got := counter(m.Errors.WithLabelValues("support", "auth")); got != 1 {
		t.Errorf("%v auth errors counted, want 1; log:\n%s", got, out)
	}
	if d := backoff(mb.PollInterval, 1, true); d < 9*time.Minute {
		t.Errorf("backoff after an auth failure %v, want about 10 minutes", d)
	}
	if left := len(e.onServer()); left != 3 {
		t.Errorf("%d messages on the server, want 3", left)
	}
	if n := len(onStream(t, e.nats)); n != 0 {
		t.Errorf("MAIL holds %d messages", n)
	}
	known, err := p.known(context.Background(), mb.Name)
	if err != nil || len(known) != 0 {
		t.Errorf("ingest state holds %d entries (%v)", len(known), err)
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func freePort(t *testing.T) string {
	t.Helper()
	p, err := dovecottest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}
