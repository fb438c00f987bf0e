package ingest

// Integration tests against a real Dovecot (internal/dovecottest), started
// by the tests on loopback with its own config and Maildirs.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/internal/dovecottest"
	"github.com/mailsift/mailsift/pipeline"
)

const passwordEnv = "MAILSIFT_TEST_POP3_PASSWORD"

// dove is a Dovecot mailbox, a NATS server and what the test delivered.
type dove struct {
	t    *testing.T
	d    *dovecottest.Server
	user string
	nats *pipeline.Conn
	kv   jetstream.KeyValue

	mu    sync.Mutex
	sent  map[[32]byte]int    // digest of the expected MAIL body -> how many were delivered
	files map[string][32]byte // Maildir file name -> digest of its expected MAIL body
	n     int
}

// newDove starts Dovecot with one user and an embedded NATS server that
// listens on loopback, so that ingest child processes can reach it.
func newDove(t *testing.T) *dove {
	t.Helper()
	d := dovecottest.Start(t, "ingest")
	t.Setenv(passwordEnv, d.Password)
	return &dove{t: t, d: d, user: "ingest", nats: startNATS(t, t.TempDir(), "127.0.0.1:0"),
		sent: map[[32]byte]int{}, files: map[string][32]byte{}}
}

// startNATS starts an embedded NATS server with the streams set up.
func startNATS(t *testing.T, dir, listen string) *pipeline.Conn {
	t.Helper()
	ctx := context.Background()
	cfg := pipeline.Defaults()
	cfg.StoreDir = dir
	cfg.Listen = listen
	conn, err := pipeline.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := conn.Setup(ctx, nil, pipeline.DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	return conn
}

func (e *dove) state() jetstream.KeyValue {
	e.t.Helper()
	if e.kv == nil {
		kv, err := e.nats.JS.KeyValue(context.Background(), pipeline.BucketUIDL)
		if err != nil {
			e.t.Fatal(err)
		}
		e.kv = kv
	}
	return e.kv
}

// deliver puts a message into the Maildir and remembers what it must look
// like on MAIL.
func (e *dove) deliver(content []byte) {
	e.t.Helper()
	e.mu.Lock()
	e.n++
	n := e.n
	e.mu.Unlock()
	path := e.d.Deliver(e.t, e.user, n, content)
	name, _, _ := strings.Cut(filepath.Base(path), ":")
	sum := sha256.Sum256(dovecottest.Wire(content))
	e.mu.Lock()
	e.sent[sum]++
	e.files[name] = sum
	e.mu.Unlock()
}

// mailbox is the config of the Dovecot mailbox for a TLS mode: none
// (plain POP3 on loopback), starttls, or implicit.
func (e *dove) mailbox(mode string) Mailbox {
	addr := e.d.Addr
	if mode == "implicit" {
		addr = e.d.TLSAddr
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	mb := Mailbox{Name: "support", Host: host, Port: p, TLS: mode, Username: e.user, PasswordEnv: passwordEnv,
		Timeout: 10 * time.Second}
	if mode != "none" {
		mb.CAFile, mb.ServerName = e.d.CA.CAFile, "localhost"
	}
	mb.Defaults()
	if err := mb.Validate(); err != nil {
		e.t.Fatal(err)
	}
	return mb
}

// via points a mailbox at a proxy.
func via(mb Mailbox, p *popProxy) Mailbox {
	mb.Host, mb.Port = p.Addr().IP.String(), p.Addr().Port
	return mb
}

func (e *dove) poller(pub Publisher, mb Mailbox) *Poller {
	if pub == nil {
		pub = e.nats
	}
	return NewPoller(pub, e.state(), []Mailbox{mb}, nil, slog.New(slog.DiscardHandler))
}

// onServer returns the names of the messages left in the Maildir.
func (e *dove) onServer() []string { return e.d.Files(e.t, e.user) }

// mailMsg is one message on MAIL.
type mailMsg struct {
	seq  uint64
	id   string
	body []byte
}

// onStream reads every message on MAIL, with the bodies the object store
// holds for the large ones.
func onStream(t *testing.T, conn *pipeline.Conn) []mailMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := conn.JS.Stream(ctx, pipeline.StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []mailMsg
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			body, err := conn.Body(ctx, m.Headers(), m.Data())
			if err != nil {
				t.Fatalf("MAIL %d: %v", md.Sequence.Stream, err)
			}
			out = append(out, mailMsg{seq: md.Sequence.Stream, id: m.Headers().Get(pipeline.HeaderMsgID), body: body})
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("MAIL: read %d of %d messages", len(out), info.State.Msgs)
		}
	}
	return out
}

// checkNoLoss checks the invariants that hold at every moment, whatever
// was killed or cut: every message on MAIL is one that was delivered,
// whole, and there at most once, and every message gone from the Maildir
// is on MAIL.
func (e *dove) checkNoLoss() map[[32]byte]int {
	e.t.Helper()
	on := map[[32]byte]int{}
	ids := map[string]bool{}
	for _, m := range onStream(e.t, e.nats) {
		sum := sha256.Sum256(m.body)
		on[sum]++
		if e.sent[sum] == 0 {
			e.t.Errorf("MAIL %d holds %d bytes that are no delivered message (half a message?): %q", m.seq, len(m.body), clip(m.body))
		} else if on[sum] > e.sent[sum] {
			e.t.Errorf("MAIL %d: a message is on MAIL %d times", m.seq, on[sum])
		}
		if ids[m.id] {
			e.t.Errorf("MAIL %d: message id %s twice", m.seq, m.id)
		}
		ids[m.id] = true
	}
	left := map[string]bool{}
	for _, name := range e.onServer() {
		left[name] = true
	}
	for name, sum := range e.files {
		if !left[name] && on[sum] == 0 {
			e.t.Errorf("message %s was deleted from the server but is not on MAIL: lost", name)
		}
	}
	return on
}

// checkExactlyOnce checks that every delivered message is on MAIL exactly
// once, byte for byte, and nothing else is.
func (e *dove) checkExactlyOnce() {
	e.t.Helper()
	on := e.checkNoLoss()
	missing := 0
	for sum, n := range e.sent {
		if on[sum] != n {
			missing++
		}
	}
	if missing > 0 {
		e.t.Errorf("%d of %d delivered messages are not on MAIL exactly once", missing, len(e.sent))
	}
}

// guardDeletes makes the proxy check, each time ingest sends QUIT (which
// is when the server deletes what was marked), that every message marked
// for deletion is already on MAIL: nothing is deleted before its PubAck.
func (e *dove) guardDeletes(p *popProxy) *int {
	var checked int
	p.mu.Lock()
	p.onQuit = func(uidls []string) {
		if len(uidls) == 0 {
			return
		}
		ids := map[string]bool{}
		for _, m := range onStream(e.t, e.nats) {
			ids[m.id] = true
		}
		for _, u := range uidls {
			if !ids[pipeline.MessageID("support", u)] {
				e.t.Errorf("QUIT would delete %s, which is not on MAIL", u)
			}
		}
		checked += len(uidls)
	}
	p.mu.Unlock()
	return &checked
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// synth builds a message of about size bytes with LF endings, as a
// delivery agent stores it, with a dot-led line and 8-bit text.
func synth(rng *rand.Rand, n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from mx.example.org by mail.example.net id %08X\n", n)
	fmt.Fprintf(&b, "Message-ID: <test-%d-%x@example.org>\nFrom: sender%d@example.org\nTo: support@example.net\n", n, rng.Uint64(), n%7)
	fmt.Fprintf(&b, "Subject: message %d\nContent-Type: text/plain; charset=utf-8\n\n.dot line %d\nGrüße \xe2\x82\xac\n", n, n)
	words := []string{"invoice", "meeting", "report", "please", "review", "the", "draft", ".", ".."}
	line := 0
	for b.Len() < size {
		w := words[rng.IntN(len(words))]
		b.WriteString(w)
		if line += len(w) + 1; line > 70 {
			b.WriteByte('\n')
			line = 0
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// edgeMessages are stored contents that have tripped POP3 clients up.
// None starts with a dot: Dovecot does not stuff a dot on a message's
// first line (see internal/dovecottest), and real mail starts with a
// header.
var edgeMessages = []struct {
	name    string
	content []byte
}{
	{"crlf", []byte("Subject: crlf\r\n\r\nbody line\r\n")},
	{"bare LF", []byte("Subject: lf\n\nline one\nline two\n")},
	{"mixed endings", []byte("Subject: mixed\r\n\nline\r\nother\n")},
	{"dot lines", []byte("Subject: dots\n\n.\n..\n...\n.x\n. \nend\n.")},
	{"terminator lookalike", []byte("Subject: t\r\n\r\n.\r\n.\r\nmore\r\n")},
	{"8-bit", []byte("Subject: =?utf-8?q?caf=C3=A9?=\n\nCafé \xff\xfe\x00\x01 raw bytes \x80\x9f\n")},
	{"no final newline", []byte("Subject: nofinal\n\nlast line without newline")},
	{"dot at the end without newline", []byte("Subject: d\n\nlast\n.")},
	{"lone CR", []byte("Subject: cr\n\na\rb\r\r\nc\n")},
	{"long line", []byte("Subject: long\n\n" + strings.Repeat("x", 100_000) + "\n.after\n")},
}

func TestDovecotMessagesArriveByteExact(t *testing.T) {
	for _, mode := range []string{"none", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			e := newDove(t)
			for _, m := range edgeMessages {
				e.deliver(m.content)
			}
			st, err := e.poller(nil, e.mailbox(mode)).Poll(context.Background(), ptr(e.mailbox(mode)))
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Published) != len(edgeMessages) || st.Deleted != len(edgeMessages) {
				t.Fatalf("stats %+v, want %d published and deleted", st, len(edgeMessages))
			}
			got := map[[32]byte][]byte{}
			for _, m := range onStream(t, e.nats) {
				got[sha256.Sum256(m.body)] = m.body
			}
			for _, m := range edgeMessages {
				want := dovecottest.Wire(m.content)
				if _, ok := got[sha256.Sum256(want)]; !ok {
					t.Errorf("%s: not on MAIL as %q", m.name, clip(want))
				}
			}
			e.checkExactlyOnce()
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDovecotThousandMessages(t *testing.T) {
	e := newDove(t)
	rng := rand.New(rand.NewPCG(3, 1000))
	for i := range 1000 {
		content := synth(rng, i, 500+rng.IntN(20_000))
		if i%10 == 0 {
			content = bytes.ReplaceAll(content, []byte("\n"), []byte("\r\n"))
		}
		e.deliver(content)
	}
	mb := e.mailbox("none")
	start := time.Now()
	st, err := e.poller(nil, mb).Poll(context.Background(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 messages, %.1f MB: %v", float64(st.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	if st.Listed != 1000 || len(st.Published) != 1000 || st.Deleted != 1000 || st.Duplicates != 0 {
		t.Fatalf("stats: listed %d published %d deleted %d duplicates %d", st.Listed, len(st.Published), st.Deleted, st.Duplicates)
	}
	if left := e.onServer(); len(left) != 0 {
		t.Fatalf("%d messages left on the server", len(left))
	}
	e.checkExactlyOnce()
}

func TestDovecotDeletePolicies(t *testing.T) {
	tests := []struct {
		policy string
		// messages left on the server after each of three polls, the last
		// one 169 hours after the first two
		left [3]int
	}{
		{"after-publish", [3]int{0, 0, 0}},
		{"never", [3]int{4, 4, 4}},
		{"168h", [3]int{4, 4, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			e := newDove(t)
			for i := range 4 {
				e.deliver(fmt.Appendf(nil, "Subject: %d\n\nbody %d\n", i, i))
			}
			mb := e.mailbox("starttls")
			mb.Delete = tt.policy
			p := e.poller(nil, mb)
			now := time.Now()
			p.now = func() time.Time { return now }
			for i := range 3 {
				if i == 2 {
					now = now.Add(169 * time.Hour)
				}
				st, err := p.Poll(context.Background(), &mb)
				if err != nil {
					t.Fatalf("poll %d: %v", i+1, err)
				}
				if want := map[bool]int{true: 4, false: 0}[i == 0]; len(st.Published) != want {
					t.Errorf("poll %d published %d, want %d", i+1, len(st.Published), want)
				}
				if left := len(e.onServer()); left != tt.left[i] {
					t.Errorf("poll %d: %d messages on the server, want %d", i+1, left, tt.left[i])
				}
			}
			e.checkExactlyOnce()
			// Mail gone from the server leaves no state behind once the next
			// poll sees it gone; mail still there keeps it, so it is never
			// fetched twice.
			if _, err := p.Poll(context.Background(), &mb); err != nil {
				t.Fatal(err)
			}
			known, err := p.known(context.Background(), mb.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(known) != tt.left[2] {
				t.Errorf("ingest state holds %d entries, want %d", len(known), tt.left[2])
			}
		})
	}

	t.Run("never prunes state of mail removed by others", func(t *testing.T) {
		e := newDove(t)
		for i := range 3 {
			e.deliver(fmt.Appendf(nil, "Subject: %d\n\nbody\n", i))
		}
		mb := e.mailbox("none")
		mb.Delete = "never"
		p := e.poller(nil, mb)
		if _, err := p.Poll(context.Background(), &mb); err != nil {
			t.Fatal(err)
		}
		// Another client deletes one message.
		matches, _ := filepath.Glob(filepath.Join(e.d.Maildir(e.user), "cur", "*"))
		if len(matches) != 3 {
			t.Fatalf("%d files in cur/", len(matches))
		}
		if err := os.Remove(matches[0]); err != nil {
			t.Fatal(err)
		}
		st, err := p.Poll(context.Background(), &mb)
		if err != nil || len(st.Published) != 0 {
			t.Fatalf("second poll: %+v %v", st, err)
		}
		known, err := p.known(context.Background(), mb.Name)
		if err != nil || len(known) != 2 {
			t.Fatalf("state holds %d entries, want 2 (%v)", len(known), err)
		}
	})
}

// nonLoopback returns an address of this machine that is not loopback, for
// a connection the POP3 client must treat as crossing a network.
func nonLoopback(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}

func TestDovecotTLSAndAuthentication(t *testing.T) {
	e := newDove(t)
	external := nonLoopback(t)
	var proxy *popProxy
	if external != "" {
		// Dovecot listens on loopback only; this proxy makes it reachable on
		// an address the client does not trust with plaintext passwords.
		proxy = startProxy(t, net.JoinHostPort(external, "0"), e.d.Addr)
	}
	tests := []struct {
		name     string
		mode     string
		mutate   func(*Mailbox)
		external bool     // through the proxy on a non-loopback address
		wantErr  error    // nil: the poll must succeed
		login    []string // what Dovecot's log must say of the login
		kind     string   // the error kind counted in the metrics
	}{
		{name: "user/pass, allow_plaintext, over the network", mode: "none", external: true, login: []string{"method=PLAIN"},
			mutate: func(m *Mailbox) { m.AllowPlaintext, m.Auth = true, "user" }},
		{name: "plain without allow_plaintext over the network is refused", mode: "none", external: true,
			wantErr: pop3.ErrPlaintext, kind: "auth"},
		{name: "user/pass on loopback", mode: "none", login: []string{"method=PLAIN"}, mutate: func(m *Mailbox) { m.Auth = "user" }},
		{name: "auto picks apop", mode: "none", login: []string{"method=APOP"}},
		{name: "apop", mode: "none", login: []string{"method=APOP"}, mutate: func(m *Mailbox) { m.Auth = "apop" }},
		{name: "starttls, auto", mode: "starttls", login: []string{"TLS"}},
		{name: "starttls, sasl plain", mode: "starttls", login: []string{"method=PLAIN", "TLS"}, mutate: func(m *Mailbox) { m.Auth = "plain" }},
		{name: "implicit TLS with the test CA", mode: "implicit", login: []string{"TLS"}},
		{name: "implicit TLS, sasl plain", mode: "implicit", login: []string{"method=PLAIN", "TLS"}, mutate: func(m *Mailbox) { m.Auth = "plain" }},
		{name: "implicit TLS, sasl login", mode: "implicit", login: []string{"method=LOGIN", "TLS"}, mutate: func(m *Mailbox) { m.Auth = "login" }},
		{name: "implicit TLS without the CA is refused", mode: "implicit", kind: "tls",
			mutate: func(m *Mailbox) { m.CAFile = "" }},
		{name: "implicit TLS, wrong server name is refused", mode: "implicit", kind: "tls",
			mutate: func(m *Mailbox) { m.ServerName = "pop.example.com" }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.external && proxy == nil {
				t.Fatal("this machine has no non-loopback IPv4 address: the plaintext-over-a-network cases need one (any interface other than lo will do)")
			}
			e.deliver(fmt.Appendf(nil, "Subject: %s\n\ncase %d\n", tt.name, i))
			mb := e.mailbox(tt.mode)
			if tt.external {
				mb = via(mb, proxy)
			}
			if tt.mutate != nil {
				tt.mutate(&mb)
			}
			before := len(e.onServer())
			m := NewMetrics(nil)
			p := NewPoller(e.nats, e.state(), []Mailbox{mb}, m, slog.New(slog.DiscardHandler))
			st, err := p.Poll(context.Background(), &mb)
			switch {
			case tt.kind != "":
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got := errorKind(err); got != tt.kind {
					t.Errorf("error kind %q, want %q (%v)", got, tt.kind, err)
				}
				if len(e.onServer()) != before || len(st.Published) != 0 {
					t.Errorf("a refused session changed something: %+v", st)
				}
				if strings.Contains(err.Error(), e.d.Password) {
					t.Errorf("error shows the password: %v", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			// The mail of a refused case before comes in too.
			if len(st.Published) == 0 || len(e.onServer()) != 0 {
				t.Fatalf("stats %+v, %d left on the server", st, len(e.onServer()))
			}
			login := lastLogin(e.d)
			for _, want := range tt.login {
				if !strings.Contains(login, ", "+want+", ") {
					t.Errorf("Dovecot logged %q, want %q in it", login, want)
				}
			}
		})
	}
	// The mail of the refused cases comes in with a good config.
	mb := e.mailbox("implicit")
	if _, err := e.poller(nil, mb).Poll(context.Background(), &mb); err != nil {
		t.Fatal(err)
	}
	e.checkExactlyOnce()
}

// lastLogin returns the last login line of Dovecot's log, such as
// "Login: user=<ingest>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1,
// mpid=42, TLS, session=<...>".
func lastLogin(d *dovecottest.Server) string {
	lines := strings.Split(d.Log(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, login, ok := strings.Cut(lines[i], "Login: "); ok {
			return login
		}
	}
	return ""
}
