package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testLogger sends log lines to t.Log, visible with -v or on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// ownServer runs a Server over dir (.eml files) on loopback. With tlsCfg
// it also listens for implicit TLS and offers STLS.
type ownServer struct {
	*Server
	Addr    string // plain, STLS offered when TLS is on
	TLSAddr string // implicit TLS; "" without tlsCfg
}

const (
	testUser = "alice"
	testPass = "s3cret-Pa55"
)

func startOwnServer(t testing.TB, b Backend, tlsCfg *tls.Config) *ownServer {
	t.Helper()
	srv := &Server{
		Backend:   b,
		Users:     map[string]string{testUser: testPass, "bob": "bobpw"},
		TLSConfig: tlsCfg,
		Timeout:   30 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &ownServer{Server: srv, Addr: ln.Addr().String()}
	done := make(chan struct{}, 2)
	go func() { srv.Serve(ln); done <- struct{}{} }()
	n := 1
	if tlsCfg != nil {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o.TLSAddr = tln.Addr().String()
		n++
		go func() { srv.Serve(tls.NewListener(tln, tlsCfg)); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range n {
			<-done
		}
	})
	return o
}

// writeEML writes messages as 0001.eml, 0002.eml, ... and returns the dir.
func writeEML(t testing.TB, msgs [][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for i, m := range msgs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.eml", i+1)), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// onWire is what a POP3 server must deliver for stored content, computed
// independently of copyWire: every LF gets a CR unless it has one, and a
// non-empty message gets a final CRLF if it lacks one.
func onWire(stored []byte) []byte {
	var out []byte
	for i, c := range stored {
		if c == '\n' && (i == 0 || stored[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

// fetchAll fetches every message and returns the bodies by ID.
func fetchAll(t testing.TB, ctx context.Context, c *Client) (map[int][]byte, []MessageInfo) {
	t.Helper()
	msgs, err := c.Messages(ctx)
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	ids := make([]int, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	got := map[int][]byte{}
	var infos []MessageInfo
	err = c.Fetch(ctx, ids, func(info MessageInfo, body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		got[info.ID] = b
		infos = append(infos, info)
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return got, infos
}

func dialOwn(t testing.TB, addr string, mut ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Addr: addr, TLS: TLSNone, CommandTimeout: 10 * time.Second, Logger: testLogger(t)}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
