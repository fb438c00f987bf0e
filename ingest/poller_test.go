package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/pipeline"
)

type env struct {
	conn    *pipeline.Conn
	state   jetstream.KeyValue
	mailDir string
	mb      Mailbox
}

// setup starts an embedded NATS and the pop3 package's server over a folder
// holding n messages.
func setup(t *testing.T, n int) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mailDir := filepath.Join(dir, "mail")
	if err := os.MkdirAll(mailDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		writeMail(t, mailDir, i)
	}
	srv := &pop3.Server{Backend: pop3.NewDirBackend(mailDir), Users: map[string]string{"u": "pw"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	cfg := pipeline.Defaults()
	cfg.StoreDir = filepath.Join(dir, "nats")
	conn, err := pipeline.Connect(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := conn.Setup(ctx, nil, pipeline.DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	kv, err := conn.JS.KeyValue(ctx, pipeline.BucketUIDL)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_POP3_PW", "pw")
	mb := Mailbox{Name: "support", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: "none",
		Username: "u", PasswordEnv: "TEST_POP3_PW", Timeout: 5 * time.Second}
	mb.Defaults()
	return &env{conn: conn, state: kv, mailDir: mailDir, mb: mb}
}

func writeMail(t *testing.T, dir string, i int) {
	t.Helper()
	body := fmt.Sprintf("From: a@example.com\r\nSubject: message %d\r\nMessage-ID: <%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.eml", i)), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) poller(pub Publisher) *Poller {
	if pub == nil {
		pub = e.conn
	}
	return NewPoller(pub, e.state, []Mailbox{e.mb}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func (e *env) onServer(t *testing.T) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(e.mailDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func (e *env) onStream(t *testing.T) uint64 {
	t.Helper()
	s, err := e.conn.JS.Stream(context.Background(), pipeline.StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPollAfterPublishDeletesOnlyWhatIsOnTheStream(t *testing.T) {
	e := setup(t, 25)
	p := e.poller(nil)
	st, err := p.Poll(context.Background(), &e.mb)
	if err != nil {
		t.Fatal(err)
	}
	if st.Listed != 25 || len(st.Published) != 25 || st.Deleted != 25 {
		t.Fatalf("stats = %+v", st)
	}
	if n := e.onServer(t); n != 0 {
		t.Errorf("%d messages left on server, want 0", n)
	}
	if n := e.onStream(t); n != 25 {
		t.Errorf("MAIL holds %d, want 25", n)
	}
	// A second poll finds nothing new and publishes nothing.
	writeMail(t, e.mailDir, 99)
	st, err = p.Poll(context.Background(), &e.mb)
	if err != nil || len(st.Published) != 1 || e.onStream(t) != 26 {
		t.Fatalf("second poll: %+v %v, stream %d", st, err, e.onStream(t))
	}
	// The state of mail deleted by the first poll is pruned; only the
	// message fetched (and deleted) by the second remains.
	known, err := p.known(context.Background(), "support")
	if err != nil || len(known) != 1 {
		t.Fatalf("state holds %d entries, want 1 (err %v)", len(known), err)
	}
}

func TestPollNeverKeepsMailAndPrunesState(t *testing.T) {
	e := setup(t, 5)
	e.mb.Delete = "never"
	p := e.poller(nil)
	for i := 0; i < 2; i++ {
		st, err := p.Poll(context.Background(), &e.mb)
		if err != nil {
			t.Fatal(err)
		}
		want := 5
		if i == 1 {
			want = 0
		}
		if len(st.Published) != want || st.Deleted != 0 {
			t.Fatalf("poll %d: %+v", i+1, st)
		}
	}
	if e.onServer(t) != 5 || e.onStream(t) != 5 {
		t.Fatalf("server %d stream %d, want 5 and 5", e.onServer(t), e.onStream(t))
	}
	// Mail removed from the server by someone else: its state goes too.
	if err := os.Remove(filepath.Join(e.mailDir, "000.eml")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(context.Background(), &e.mb); err != nil {
		t.Fatal(err)
	}
	known, err := p.known(context.Background(), "support")
	if err != nil || len(known) != 4 {
		t.Fatalf("state holds %d entries, want 4 (err %v)", len(known), err)
	}
}

func TestPollDeletesAfterRetentionPeriod(t *testing.T) {
	e := setup(t, 3)
	e.mb.Delete = "168h"
	p := e.poller(nil)
	now := time.Now()
	p.now = func() time.Time { return now }
	if st, err := p.Poll(context.Background(), &e.mb); err != nil || st.Deleted != 0 {
		t.Fatalf("first poll: %+v %v", st, err)
	}
	now = now.Add(167 * time.Hour)
	if st, err := p.Poll(context.Background(), &e.mb); err != nil || st.Deleted != 0 {
		t.Fatalf("before 168h: %+v %v", st, err)
	}
	now = now.Add(2 * time.Hour)
	if st, err := p.Poll(context.Background(), &e.mb); err != nil || st.Deleted != 3 {
		t.Fatalf("after 168h: %+v %v", st, err)
	}
	if e.onServer(t) != 0 || e.onStream(t) != 3 {
		t.Fatalf("server %d stream %d", e.onServer(t), e.onStream(t))
	}
}

// failAfter publishes n messages, then fails as a NATS outage would.
type failAfter struct {
	pub Publisher
	n   atomic.Int32
}

func (f *failAfter) PublishAsync(ctx context.Context, m pipeline.Mail) (*pipeline.Pending, error) {
	if f.n.Add(-1) < 0 {
		_, _ = io.Copy(io.Discard, m.Body)
		return nil, errors.New("nats: no responders available for request")
	}
	return f.pub.PublishAsync(ctx, m)
}

func (f *failAfter) PutStateAsync(key string, value []byte) (*pipeline.Pending, error) {
	return f.pub.PutStateAsync(key, value)
}

func TestPublishFailureDeletesNothingUnacknowledged(t *testing.T) {
	e := setup(t, 10)
	fa := &failAfter{pub: e.conn}
	fa.n.Store(4)
	p := e.poller(fa)
	st, err := p.Poll(context.Background(), &e.mb)
	if err == nil {
		t.Fatal("poll with failing publisher succeeded")
	}
	if len(st.Published) != 4 || st.Deleted != 4 {
		t.Fatalf("stats = %+v, want 4 published and 4 deleted", st)
	}
	if n := e.onServer(t); n != 6 {
		t.Fatalf("%d left on server, want the 6 never acknowledged", n)
	}
	// NATS back: the rest arrives, nothing twice.
	st, err = e.poller(nil).Poll(context.Background(), &e.mb)
	if err != nil || len(st.Published) != 6 || st.Duplicates != 0 {
		t.Fatalf("recovery poll: %+v %v", st, err)
	}
	if e.onStream(t) != 10 || e.onServer(t) != 0 {
		t.Fatalf("stream %d server %d, want 10 and 0", e.onStream(t), e.onServer(t))
	}
}

// JetStream refusing a message or its state (a full stream that discards
// new messages) leaves that message on the server, and the poll after the
// limit is lifted brings it in without storing anything twice.
func TestRefusedPublishKeepsMail(t *testing.T) {
	tests := []struct {
		stream      string
		wantDeleted int
		wantStream  uint64 // on MAIL after the refusing poll
	}{
		{stream: pipeline.StreamMail, wantDeleted: 4, wantStream: 4},
		{stream: "KV_" + pipeline.BucketUIDL, wantDeleted: 4, wantStream: 10},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, 10)
			limit := func(n int64) {
				t.Helper()
				s, err := e.conn.JS.Stream(ctx, tt.stream)
				if err != nil {
					t.Fatal(err)
				}
				cfg := s.CachedInfo().Config
				cfg.MaxMsgs, cfg.Discard = n, jetstream.DiscardNew
				if _, err := e.conn.JS.UpdateStream(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			limit(4)
			p := e.poller(nil)
			st, err := p.Poll(ctx, &e.mb)
			if err == nil {
				t.Fatal("poll with a refusing stream succeeded")
			}
			if st.Deleted != tt.wantDeleted || e.onServer(t) != 10-tt.wantDeleted || e.onStream(t) != tt.wantStream {
				t.Fatalf("stats %+v; server %d, stream %d; want %d deleted and %d on MAIL",
					st, e.onServer(t), e.onStream(t), tt.wantDeleted, tt.wantStream)
			}
			limit(-1)
			st, err = p.Poll(ctx, &e.mb)
			if err != nil || e.onServer(t) != 0 || e.onStream(t) != 10 {
				t.Fatalf("after the limit: %+v %v; server %d, stream %d, want 0 and 10", st, err, e.onServer(t), e.onStream(t))
			}
			if st.Duplicates != int(tt.wantStream)-tt.wantDeleted {
				t.Errorf("%d duplicates, want %d (stored, state refused)", st.Duplicates, int(tt.wantStream)-tt.wantDeleted)
			}
		})
	}
}

func TestWrongPasswordIsAnAuthError(t *testing.T) {
	e := setup(t, 1)
	t.Setenv("TEST_POP3_PW", "wrong")
	_, err := e.poller(nil).Poll(context.Background(), &e.mb)
	if !errors.Is(err, pop3.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if e.onServer(t) != 1 || e.onStream(t) != 0 {
		t.Fatal("a failed login changed something")
	}
}

func TestMailboxValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Mailbox)
		want   string
	}{
		{"ok", func(*Mailbox) {}, ""},
		{"bad name", func(m *Mailbox) { m.Name = "sup port" }, `mailbox name "sup port"`},
		{"no host", func(m *Mailbox) { m.Host = "" }, "host is required"},
		{"bad tls", func(m *Mailbox) { m.TLS = "ssl" }, `tls "ssl"`},
		{"bad delete", func(m *Mailbox) { m.Delete = "soon" }, `delete "soon"`},
		{"fast poll", func(m *Mailbox) { m.PollInterval = time.Millisecond }, "poll_interval"},
		{"bad auth", func(m *Mailbox) { m.Auth = "kerberos" }, `auth "kerberos"`},
		{"no secret", func(m *Mailbox) { m.PasswordEnv = "" }, "no secret configured"},
		{"password and token", func(m *Mailbox) { m.OAuthTokenEnv = "T" }, "both a password and an OAuth token"},
		{"oauth without token", func(m *Mailbox) { m.Auth = "xoauth2" }, "needs an OAuth token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Mailbox{Name: "support", Host: "pop.example.com", Username: "u", PasswordEnv: "P"}
			tt.mutate(&m)
			m.Defaults()
			err := m.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOversizedMailIsReportedNotFetched(t *testing.T) {
	e := setup(t, 2)
	big := "From: a@example.com\r\nSubject: huge attachment\r\nMessage-ID: <big@example.com>\r\n\r\n" + strings.Repeat("A", 5000) + "\r\n"
	if err := os.WriteFile(filepath.Join(e.mailDir, "big.eml"), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mb.MaxMessageSize = 1000
	p := e.poller(nil)
	for i := 0; i < 2; i++ {
		st, err := p.Poll(context.Background(), &e.mb)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (st.Skipped != 1 || len(st.Published) != 3 || st.Deleted != 2) {
			t.Fatalf("first poll: %+v", st)
		}
		if i == 1 && (st.Skipped != 0 || len(st.Published) != 0) {
			t.Fatalf("second poll touched the big message again: %+v", st)
		}
	}
	if _, err := os.Stat(filepath.Join(e.mailDir, "big.eml")); err != nil {
		t.Fatalf("oversized message not left on the server: %v", err)
	}
	s, err := e.conn.JS.Stream(context.Background(), pipeline.StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), pipeline.SubjectMailPrefix+"support")
	if err != nil {
		t.Fatal(err)
	}
	var stub *jetstream.RawStreamMsg
	for seq := uint64(1); seq <= m.Sequence; seq++ {
		raw, err := s.GetMsg(context.Background(), seq)
		if err == nil && raw.Header.Get(pipeline.HeaderSkipped) != "" {
			stub = raw
		}
	}
	if stub == nil {
		t.Fatal("no skipped stub on MAIL")
	}
	if !strings.Contains(string(stub.Data), "Subject: huge attachment") || strings.Contains(string(stub.Data), "AAAA") {
		t.Errorf("stub should hold the header only, got %q", stub.Data)
	}
	if got := stub.Header.Get(pipeline.HeaderSize); got != fmt.Sprint(len(big)) {
		t.Errorf("stub size header %s, want %d", got, len(big))
	}
}
