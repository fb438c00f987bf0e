package pop3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

// synthMessage builds a realistic message of about size bytes with LF
// endings, like a delivery agent stores: a dot-led line in every one, a
// long unwrapped line in every 50th, 8-bit text in every 7th.
func synthMessage(rng *rand.Rand, n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.org>\n", n%97)
	fmt.Fprintf(&b, "Received: from mx%d.example.org\n\tby mail.example.net with ESMTPS id %08X\n", n%5, n)
	fmt.Fprintf(&b, "Message-ID: <test-%d-%x@example.org>\n", n, rng.Uint64())
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\nTo: test@example.net\n", n%97, n%97)
	fmt.Fprintf(&b, "Subject: message %d\nX-Test-Seq: %d\nMIME-Version: 1.0\n", n, n)
	b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	fmt.Fprintf(&b, ".dot-line-marker %d\n", n)
	if n%50 == 0 {
		b.WriteString("<p>" + strings.Repeat("x", 5990) + "</p>\n")
	}
	if n%7 == 0 {
		b.WriteString("Grüße, café, naïve \xe2\x82\xac\n")
	}
	words := []string{"invoice", "meeting", "report", "please", "review", "the", "draft", "budget", "regards", ".", ".."}
	line := 0
	for b.Len() < size {
		w := words[rng.IntN(len(words))]
		b.WriteString(w)
		line += len(w)
		if line > 70 {
			b.WriteByte('\n')
			line = 0
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestDovecot(t *testing.T) {
	d := dovecottest.Start(t, "authuser", "lockuser", "bulk", "deluser", "topuser")
	ctx := context.Background()
	pass := d.Password
	plain := func(cfg *Config) { cfg.Addr, cfg.TLS, cfg.AllowPlaintext = d.Addr, TLSNone, true }
	stls := func(cfg *Config) { cfg.Addr, cfg.TLS, cfg.CAFile = d.Addr, TLSStartTLS, d.CA.CAFile }
	implicit := func(cfg *Config) {
		cfg.Addr, cfg.TLS, cfg.CAFile, cfg.ServerName = d.TLSAddr, TLSImplicit, d.CA.CAFile, "localhost"
	}
	login := func(t *testing.T, mode func(*Config), cr Credentials) (*Client, error) {
		t.Helper()
		cfg := Config{CommandTimeout: 15 * time.Second, Logger: testLogger(t)}
		mode(&cfg)
		c, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if (cfg.TLS != TLSNone) != (c.TLSConnectionState() != nil) {
			t.Fatalf("TLS state %v in mode %s", c.TLSConnectionState() != nil, cfg.TLS)
		}
		return c, c.Auth(ctx, cr)
	}
	// A session dropped without QUIT keeps Dovecot's lock for a moment: a
	// login told [IN-USE] tries again, as a poller would at its next poll.
	mustLogin := func(t *testing.T, mode func(*Config), user string) *Client {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := login(t, mode, Credentials{Username: user, Password: pass})
			if err == nil {
				return c
			}
			if !errors.Is(err, ErrInUse) || time.Now().After(deadline) {
				t.Fatalf("Auth: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The parallel group hides Dovecot's 10 s IN-USE wait behind the rest.
	t.Run("group", func(t *testing.T) {
		t.Run("auth", func(t *testing.T) {
			t.Parallel()
			d.Deliver(t, "authuser", 1, []byte("Subject: hi\n\nhello\n"))
			tests := []struct {
				name   string
				mode   func(*Config)
				method string
			}{
				{"plain allow_plaintext user", plain, "user"},
				{"plain auto", plain, ""},
				{"apop", plain, "apop"},
				{"stls auto", stls, ""},
				{"stls sasl plain", stls, "plain"},
				{"implicit auto", implicit, ""},
				{"implicit sasl plain", implicit, "plain"},
				{"implicit sasl login", implicit, "login"},
				{"implicit user", implicit, "user"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c, err := login(t, tt.mode, Credentials{Username: "authuser", Password: pass, Method: tt.method})
					if err != nil {
						t.Fatalf("Auth: %v", err)
					}
					n, _, err := c.Stat(ctx)
					if err != nil || n != 1 {
						t.Fatalf("Stat = %d, %v", n, err)
					}
					if err := c.Quit(ctx); err != nil {
						t.Fatal(err)
					}
				})
			}
		})

		t.Run("in use", func(t *testing.T) {
			t.Parallel()
			mustLogin(t, plain, "lockuser")
			start := time.Now()
			_, err := login(t, plain, Credentials{Username: "lockuser", Password: pass})
			if !errors.Is(err, ErrInUse) {
				t.Fatalf("second session: %v, want ErrInUse", err)
			}
			t.Logf("Dovecot answered %v after %v", err, time.Since(start).Round(time.Millisecond))
		})

		t.Run("byte exact 1000", func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 1939))
			want := map[[32]byte]int{} // sha256 of expected wire bytes -> how many
			add := func(n int, content []byte) {
				d.Deliver(t, "bulk", n, content)
				want[sha256.Sum256(dovecottest.Wire(content))]++
			}
			for i, m := range edgeMessages {
				if m.name == "dot first line" {
					// Dovecot 2.3 does not dot-stuff the first line of a
					// message, so this one arrives without its dot. Real
					// mail starts with a header, never with ".".
					continue
				}
				add(i, m.content)
			}
			for n := len(edgeMessages); n < 1000; n++ {
				content := synthMessage(rng, n, 2000+rng.IntN(20000))
				if n%10 == 0 { // as some delivery agents store it
					content = bytes.ReplaceAll(content, []byte("\n"), []byte("\r\n"))
				}
				add(n, content)
			}
			for _, mode := range []string{"plain", "implicit TLS"} {
				t.Run(mode, func(t *testing.T) {
					m := plain
					if mode != "plain" {
						m = implicit
					}
					c := mustLogin(t, m, "bulk")
					start := time.Now()
					msgs, err := c.Messages(ctx)
					if err != nil {
						t.Fatal(err)
					}
					ids := make([]int, len(msgs))
					uids := map[string]bool{}
					for i, m := range msgs {
						ids[i] = m.ID
						uids[m.UID] = true
					}
					if len(msgs) != 999 || len(uids) != 999 {
						t.Fatalf("%d messages, %d distinct UIDs; want 999", len(msgs), len(uids))
					}
					seen := map[[32]byte]int{}
					var total int64
					err = c.Fetch(ctx, ids, func(info MessageInfo, body io.Reader) error {
						h := sha256.New()
						n, err := io.Copy(h, body)
						if err != nil {
							return err
						}
						total += n
						var sum [32]byte
						h.Sum(sum[:0])
						seen[sum]++
						if seen[sum] > want[sum] {
							t.Errorf("message %d (%s): %d bytes that match no stored message, or one already seen", info.ID, info.UID, n)
						}
						// Dovecot's LIST leaves out the CRLF it adds to a
						// message that lacks one.
						if n != info.Size && n != info.Size+2 {
							t.Errorf("message %d: %d bytes, LIST said %d", info.ID, n, info.Size)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					el := time.Since(start)
					t.Logf("%s: fetched %d messages, %.1f MB in %v: %.0f msg/s, %.1f MB/s", mode, len(msgs), float64(total)/1e6, el, float64(len(msgs))/el.Seconds(), float64(total)/1e6/el.Seconds())
					for sum, n := range want {
						if seen[sum] != n {
							t.Errorf("a stored message was delivered %d times, want %d", seen[sum], n)
						}
					}
					if err := c.Quit(ctx); err != nil {
						t.Fatal(err)
					}
				})
			}
		})

		t.Run("delete at quit", func(t *testing.T) {
			t.Parallel()
			for n := range 6 {
				d.Deliver(t, "deluser", n, fmt.Appendf(nil, "Subject: %d\n\nbody\n", n))
			}
			session := func(end func(c *Client) error) {
				t.Helper()
				c := mustLogin(t, stls, "deluser")
				if err := c.Dele(ctx, 1, 2, 3); err != nil {
					t.Fatal(err)
				}
				if err := end(c); err != nil {
					t.Fatal(err)
				}
			}
			session(func(c *Client) error { return c.Close() })
			if n := len(d.Files(t, "deluser")); n != 6 {
				t.Fatalf("%d files after DELE and a dropped connection, want 6", n)
			}
			session(func(c *Client) error { c.Rset(ctx); return c.Quit(ctx) })
			if n := len(d.Files(t, "deluser")); n != 6 {
				t.Fatalf("%d files after RSET and QUIT, want 6", n)
			}
			session(func(c *Client) error { return c.Quit(ctx) })
			if n := len(d.Files(t, "deluser")); n != 3 {
				t.Fatalf("%d files after DELE and QUIT, want 3", n)
			}
		})

		t.Run("top", func(t *testing.T) {
			t.Parallel()
			d.Deliver(t, "topuser", 1, []byte("Subject: t\nX: y\n\nl1\n.l2\nl3\n"))
			c := mustLogin(t, implicit, "topuser")
			rc, err := c.Top(ctx, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			if want := "Subject: t\r\nX: y\r\n\r\nl1\r\n.l2\r\n"; err != nil || string(b) != want {
				t.Fatalf("TOP 1 2 = %q, %v; want %q", b, err, want)
			}
		})
	})

	// Last: after a failure Dovecot delays every login from 127.0.0.1.
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-Password"
		_, err := login(t, stls, Credentials{Username: "authuser", Password: wrong, Method: "user"})
		if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), wrong) {
			t.Fatalf("Auth: %v, want ErrAuth without the password", err)
		}
	})
}
