package pop3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

// edgeMessages are stored contents that POP3 clients have got wrong.
var edgeMessages = []struct {
	name    string
	content []byte
}{
	{"crlf", []byte("Subject: crlf\r\n\r\nbody line\r\n")},
	{"bare LF", []byte("Subject: lf\n\nline one\nline two\n")},
	{"mixed endings", []byte("Subject: mixed\r\n\nline\r\nother\n")},
	{"dot lines", []byte("Subject: dots\n\n.\n..\n...\n.x\n. \nend\n.")},
	{"dot first line", []byte(".starts with a dot\n\nbody\n")},
	{"8-bit", []byte("Subject: =?utf-8?q?caf=C3=A9?=\n\nCafé \xff\xfe\x00\x01 raw bytes\n")},
	{"no final newline", []byte("Subject: nofinal\n\nlast line without newline")},
	{"empty", []byte{}},
	{"only newline", []byte("\n")},
	{"long line", []byte("Subject: long\n\n" + strings.Repeat("x", 100_000) + "\n.after\n")},
	{"lone CR", []byte("Subject: cr\n\na\rb\r\r\nc\n")},
	{"terminator lookalike", []byte("Subject: t\r\n\r\n.\r\n.\r\nmore\r\n")},
}

func TestFetchByteExact(t *testing.T) {
	var contents [][]byte
	for _, m := range edgeMessages {
		contents = append(contents, m.content)
	}
	dir := writeEML(t, contents)
	srv := startOwnServer(t, NewDirBackend(dir), nil)

	for _, pipeline := range []int{0, 1} {
		t.Run(fmt.Sprintf("pipeline=%d", pipeline), func(t *testing.T) {
			ctx := context.Background()
			c := dialOwn(t, srv.Addr, func(cfg *Config) { cfg.Pipeline = pipeline })
			if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
				t.Fatal(err)
			}
			got, infos := fetchAll(t, ctx, c)
			if len(infos) != len(edgeMessages) {
				t.Fatalf("fetched %d messages, want %d", len(infos), len(edgeMessages))
			}
			for i, m := range edgeMessages {
				want := onWire(m.content)
				if !bytes.Equal(got[i+1], want) {
					t.Errorf("%s: got %q, want %q", m.name, clipTest(got[i+1]), clipTest(want))
				}
				info := infos[i]
				if info.Size != int64(len(want)) {
					t.Errorf("%s: LIST size %d, bytes delivered %d", m.name, info.Size, len(want))
				}
				sum := sha256.Sum256(fmt.Appendf(nil, "%04d.eml", i+1))
				if info.UID != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: UID %q", m.name, info.UID)
				}
			}
			if err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func clipTest(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q...(%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// TestRoundTripRandom serves random contents built from the troublesome
// pieces and checks that every byte comes back, with and without pipelining.
func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1939, 2449))
	pieces := []string{".", "..", "\n", "\r\n", "\r", "x", "Subject: y", "\xff", " ", "\x00", ".\r\n", "\n.\n", strings.Repeat("z", 5000)}
	var contents [][]byte
	for range 200 {
		var b []byte
		for range rng.IntN(60) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		contents = append(contents, b)
	}
	srv := startOwnServer(t, NewDirBackend(writeEML(t, contents)), nil)
	ctx := context.Background()
	for _, pipeline := range []int{0, 1, 3} {
		c := dialOwn(t, srv.Addr, func(cfg *Config) { cfg.Pipeline = pipeline })
		if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
			t.Fatal(err)
		}
		got, _ := fetchAll(t, ctx, c)
		for i, m := range contents {
			if want := onWire(m); !bytes.Equal(got[i+1], want) {
				t.Errorf("pipeline=%d message %d: got %s want %s", pipeline, i+1, clipTest(got[i+1]), clipTest(want))
			}
		}
		c.Quit(ctx)
	}
}

func TestRetrTopStatList(t *testing.T) {
	msgs := [][]byte{
		[]byte("Subject: one\n\nb1\nb2\nb3\n"),
		[]byte("Subject: two\r\nX: y\r\n\r\n.dot\r\nsecond\r\n"),
	}
	srv := startOwnServer(t, NewDirBackend(writeEML(t, msgs)), nil)
	ctx := context.Background()
	c := dialOwn(t, srv.Addr)
	if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass, Method: AuthUser}); err != nil {
		t.Fatal(err)
	}
	n, size, err := c.Stat(ctx)
	if err != nil || n != 2 || size != int64(len(onWire(msgs[0]))+len(onWire(msgs[1]))) {
		t.Fatalf("Stat = %d, %d, %v", n, size, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 2 || list[1].Size != int64(len(onWire(msgs[1]))) {
		t.Fatalf("List = %+v, %v", list, err)
	}
	tests := []struct {
		id, lines int // lines < 0: RETR
		want      string
	}{
		{1, -1, "Subject: one\r\n\r\nb1\r\nb2\r\nb3\r\n"},
		{1, 0, "Subject: one\r\n\r\n"},
		{1, 2, "Subject: one\r\n\r\nb1\r\nb2\r\n"},
		{1, 99, "Subject: one\r\n\r\nb1\r\nb2\r\nb3\r\n"},
		{2, 1, "Subject: two\r\nX: y\r\n\r\n.dot\r\n"},
	}
	for _, tt := range tests {
		var rc io.ReadCloser
		if tt.lines < 0 {
			rc, err = c.Retr(ctx, tt.id)
		} else {
			rc, err = c.Top(ctx, tt.id, tt.lines)
		}
		if err != nil {
			t.Fatalf("%d/%d: %v", tt.id, tt.lines, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil || string(b) != tt.want {
			t.Errorf("%d/%d: got %q, %v; want %q", tt.id, tt.lines, b, err, tt.want)
		}
		rc.Close()
	}
	// A body left half-read is drained by the next command.
	rc, err := c.Retr(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(rc, make([]byte, 5))
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop after unread body: %v", err)
	}
	if _, err := c.Retr(ctx, 3); !isERR(err) {
		t.Errorf("RETR of a missing message: %v, want *Error", err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

func isERR(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

func TestDeleOnlyAtQuit(t *testing.T) {
	msgs := [][]byte{[]byte("a\n"), []byte("b\n"), []byte("c\n"), []byte("d\n")}
	dir := writeEML(t, msgs)
	srv := startOwnServer(t, NewDirBackend(dir), nil)
	ctx := context.Background()
	count := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		return len(m)
	}
	// A session closed without QUIT holds the lock until the server has
	// read the end of its line, which may come after the next login: that
	// login is told [IN-USE] and tries again, as a poller would later.
	login := func() *Client {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := dialOwn(t, srv.Addr)
			err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass})
			if err == nil {
				return c
			}
			_ = c.Close()
			if !errors.Is(err, ErrInUse) || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	steps := []struct {
		name string
		end  func(c *Client) error
		want int
	}{
		{"close without QUIT keeps all", func(c *Client) error { return c.Close() }, 4},
		{"RSET unmarks", func(c *Client) error {
			if err := c.Rset(ctx); err != nil {
				return err
			}
			return c.Quit(ctx)
		}, 4},
		{"QUIT deletes", func(c *Client) error { return c.Quit(ctx) }, 2},
	}
	for _, st := range steps {
		c := login()
		if err := c.Dele(ctx, 1, 3); err != nil {
			t.Fatalf("%s: Dele: %v", st.name, err)
		}
		if n, _, _ := c.Stat(ctx); n != 2 {
			t.Errorf("%s: STAT after DELE = %d, want 2", st.name, n)
		}
		if count() != 4 {
			t.Errorf("%s: files removed before QUIT", st.name)
		}
		if err := st.end(c); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// The session's end (and the lock's release) follows the reply.
		waitFor(t, func() bool { return count() == st.want })
	}
	c := login()
	list, _ := c.UIDL(ctx)
	if len(list) != 2 {
		t.Fatalf("after delete: %d messages", len(list))
	}
	if err := c.Dele(ctx, 1, 1); !isERR(err) {
		t.Errorf("deleting twice: %v, want -ERR", err)
	}
	c.Quit(ctx)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInUse(t *testing.T) {
	srv := startOwnServer(t, NewDirBackend(writeEML(t, [][]byte{[]byte("x\n")})), nil)
	ctx := context.Background()
	a := dialOwn(t, srv.Addr)
	if err := a.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	b := dialOwn(t, srv.Addr)
	err := b.Auth(ctx, Credentials{Username: testUser, Password: testPass})
	if !errors.Is(err, ErrInUse) || errors.Is(err, ErrAuth) {
		t.Fatalf("second login: %v, want ErrInUse", err)
	}
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() {
		t.Errorf("IN-USE should be temporary: %#v", e)
	}
	// Another user is not blocked.
	other := dialOwn(t, srv.Addr)
	if err := other.Auth(ctx, Credentials{Username: "bob", Password: "bobpw"}); err != nil {
		t.Fatalf("other user: %v", err)
	}
	a.Quit(ctx)
	waitFor(t, func() bool {
		c, err := Dial(ctx, Config{Addr: srv.Addr, TLS: TLSNone})
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Auth(ctx, Credentials{Username: testUser, Password: testPass}) == nil
	})
}

func TestAuth(t *testing.T) {
	ca := dovecottest.NewCA(t)
	srv := startOwnServer(t, NewDirBackend(writeEML(t, [][]byte{[]byte("x\n")})), ca.Server)
	ctx := context.Background()
	plain := func(cfg *Config) {}
	stls := func(cfg *Config) { cfg.TLS = TLSStartTLS; cfg.CAFile = ca.CAFile; cfg.ServerName = "localhost" }
	implicit := func(cfg *Config) {
		cfg.Addr = srv.TLSAddr
		cfg.TLS = TLSImplicit
		cfg.TLSConfig = nil
		cfg.CAFile = ca.CAFile
	}
	tests := []struct {
		name    string
		mode    func(*Config)
		cr      Credentials
		wantErr error // nil: success
	}{
		{"auto plain link picks APOP", plain, Credentials{Username: testUser, Password: testPass}, nil},
		{"user", plain, Credentials{Username: testUser, Password: testPass, Method: "user"}, nil},
		{"apop", plain, Credentials{Username: testUser, Password: testPass, Method: "APOP"}, nil},
		{"sasl plain", plain, Credentials{Username: testUser, Password: testPass, Method: "plain"}, nil},
		{"sasl login", plain, Credentials{Username: testUser, Password: testPass, Method: "login"}, nil},
		{"stls auto", stls, Credentials{Username: testUser, Password: testPass}, nil},
		{"implicit auto", implicit, Credentials{Username: testUser, Password: testPass}, nil},
		{"wrong password user", plain, Credentials{Username: testUser, Password: "nope", Method: "user"}, ErrAuth},
		{"wrong password apop", plain, Credentials{Username: testUser, Password: "nope", Method: "apop"}, ErrAuth},
		{"wrong password plain", stls, Credentials{Username: testUser, Password: "nope", Method: "plain"}, ErrAuth},
		{"wrong password login", implicit, Credentials{Username: testUser, Password: "nope", Method: "login"}, ErrAuth},
		{"unknown user", plain, Credentials{Username: "mallory", Password: "x", Method: "plain"}, ErrAuth},
		{"xoauth2 not offered", plain, Credentials{Username: testUser, Token: "tok-Zq9", Method: "xoauth2"}, ErrNotSupported},
		{"token auto not offered", plain, Credentials{Username: testUser, Token: "tok-Zq9"}, ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialOwn(t, srv.Addr, tt.mode)
			err := c.Auth(ctx, tt.cr)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Auth: %v", err)
				}
				if _, _, err := c.Stat(ctx); err != nil {
					t.Fatalf("Stat after Auth: %v", err)
				}
				c.Quit(ctx)
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Auth: %v, want %v", err, tt.wantErr)
			}
			for _, secret := range []string{tt.cr.Password, tt.cr.Token} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
}

// TestPlaintextRefused: on a non-loopback plain link credentials stay home
// unless allowed. Loopback is faked away; nothing is sent either way.
func TestPlaintextRefused(t *testing.T) {
	srv := startOwnServer(t, NewDirBackend(writeEML(t, nil)), nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		allow bool
		cr    Credentials
		ok    bool
	}{
		{"password refused", false, Credentials{Username: testUser, Password: testPass}, false},
		{"token refused", false, Credentials{Username: testUser, Token: "t"}, false},
		{"explicit user refused", false, Credentials{Username: testUser, Password: testPass, Method: "user"}, false},
		{"explicit apop let through", false, Credentials{Username: testUser, Password: testPass, Method: "apop"}, true},
		{"allowed", true, Credentials{Username: testUser, Password: testPass, Method: "user"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialOwn(t, srv.Addr, func(cfg *Config) { cfg.AllowPlaintext = tt.allow })
			c.loopback = false
			err := c.Auth(ctx, tt.cr)
			if tt.ok != (err == nil) {
				t.Fatalf("Auth: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrPlaintext) {
				t.Fatalf("Auth: %v, want ErrPlaintext", err)
			}
			if tt.ok {
				// QUIT releases the maildrop before its reply; a bare close
				// would leave the next subtest racing the server's unlock.
				if err := c.Quit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSTLSRequired(t *testing.T) {
	// Without TLSConfig the server does not offer STLS: starttls mode must
	// fail rather than carry on in the clear.
	srv := startOwnServer(t, NewDirBackend(writeEML(t, nil)), nil)
	_, err := Dial(context.Background(), Config{Addr: srv.Addr, TLS: TLSStartTLS, CommandTimeout: 5 * time.Second})
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Dial starttls against a server without STLS: %v", err)
	}
	// And a certificate from an unknown CA is refused by default.
	ca := dovecottest.NewCA(t)
	srv2 := startOwnServer(t, NewDirBackend(writeEML(t, nil)), ca.Server)
	_, err = Dial(context.Background(), Config{Addr: srv2.TLSAddr, TLS: TLSImplicit, CommandTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Dial with an unknown CA: %v, want a certificate error", err)
	}
	c, err := Dial(context.Background(), Config{Addr: srv2.TLSAddr, TLS: TLSImplicit, InsecureSkipVerify: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("InsecureSkipVerify: %v", err)
	}
	c.Close()
}

func TestFetchCallbackError(t *testing.T) {
	var msgs [][]byte
	for i := range 40 {
		msgs = append(msgs, fmt.Appendf(nil, "Subject: %d\n\n%s\n", i+1, strings.Repeat("line\n", 200)))
	}
	srv := startOwnServer(t, NewDirBackend(writeEML(t, msgs)), nil)
	ctx := context.Background()
	c := dialOwn(t, srv.Addr, func(cfg *Config) { cfg.Pipeline = 8 })
	if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 40)
	for i := range ids {
		ids[i] = i + 1
	}
	stopAt := errors.New("publish failed")
	var seen []int
	var kept io.Reader
	err := c.Fetch(ctx, ids, func(info MessageInfo, body io.Reader) error {
		seen = append(seen, info.ID)
		kept = body
		if info.ID == 10 {
			io.ReadFull(body, make([]byte, 10)) // partly read
			return stopAt
		}
		if info.ID%2 == 0 {
			return nil // leave it unread: Fetch drains
		}
		_, err := io.Copy(io.Discard, body)
		return err
	})
	if err != stopAt {
		t.Fatalf("Fetch = %v, want the callback's error", err)
	}
	if len(seen) != 10 {
		t.Fatalf("callback ran for %v", seen)
	}
	if _, err := kept.Read(make([]byte, 1)); !errors.Is(err, errBodyDone) {
		t.Errorf("reading a body after its callback: %v", err)
	}
	// The session is still in step: delete what was handled, then QUIT.
	if err := c.Dele(ctx, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.Stat(ctx); err != nil || n != 37 {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFetchERR(t *testing.T) {
	srv := startOwnServer(t, NewDirBackend(writeEML(t, [][]byte{[]byte("a\n"), []byte("b\n")})), nil)
	ctx := context.Background()
	c := dialOwn(t, srv.Addr)
	if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	var seen []int
	err := c.Fetch(ctx, []int{1, 7, 2}, func(info MessageInfo, body io.Reader) error {
		seen = append(seen, info.ID)
		return nil
	})
	if !isERR(err) || !strings.Contains(err.Error(), "RETR 7") {
		t.Fatalf("Fetch = %v, want -ERR for RETR 7", err)
	}
	if fmt.Sprint(seen) != "[1]" {
		t.Errorf("callback ran for %v", seen)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("session unusable after -ERR: %v", err)
	}
}

func TestMaildirBackend(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"new", "cur", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	files := map[string]string{
		"new/1700000002.M2P1.host":     "Subject: two\n\nsecond\n",
		"cur/1700000001.M1P1.host:2,S": "Subject: one\n\nfirst\n",
		"cur/1700000003.M3P1.host:2,":  "Subject: three\n\n.third\n",
		"tmp/1700000004.M4P1.host":     "not delivered yet\n",
		"cur/.hidden":                  "ignored\n",
	}
	for name, content := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	b := NewMaildirBackend(dir)
	srv := startOwnServer(t, b, nil)
	ctx := context.Background()
	c := dialOwn(t, srv.Addr)
	if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	got, infos := fetchAll(t, ctx, c)
	want := []string{"Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\nsecond\r\n", "Subject: three\r\n\r\n.third\r\n"}
	if len(got) != 3 {
		t.Fatalf("got %d messages", len(got))
	}
	for i, w := range want {
		if string(got[i+1]) != w {
			t.Errorf("message %d: %q, want %q", i+1, got[i+1], w)
		}
	}
	c.Quit(ctx)
	// Another reader moves new/ to cur/ and sets a flag: UID unchanged.
	os.Rename(filepath.Join(dir, "new/1700000002.M2P1.host"), filepath.Join(dir, "cur/1700000002.M2P1.host:2,S"))
	c = dialOwn(t, srv.Addr)
	waitFor(t, func() bool { return c.Auth(ctx, Credentials{Username: testUser, Password: testPass}) == nil })
	after, err := c.UIDL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range infos {
		if after[i].UID != infos[i].UID {
			t.Errorf("UID of %d changed: %s -> %s", i+1, infos[i].UID, after[i].UID)
		}
	}
	if err := c.Dele(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cur/1700000002.M2P1.host:2,S")); !os.IsNotExist(err) {
		t.Errorf("moved message not deleted: %v", err)
	}
}
