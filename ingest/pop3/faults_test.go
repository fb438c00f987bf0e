package pop3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scripted runs one fake server session per connection: script gets the
// connection and a reader, and plays whatever misbehaviour a test needs.
func scripted(t *testing.T, script func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				script(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

// loginScript answers greeting, CAPA and USER/PASS, then hands over.
func loginScript(caps string, then func(c net.Conn, r *bufio.Reader)) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "+OK ready <1.2@test>\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.TrimSpace(line); {
			case cmd == "CAPA":
				io.WriteString(c, "+OK\r\n"+caps+".\r\n")
			case strings.HasPrefix(cmd, "USER"):
				io.WriteString(c, "+OK\r\n")
			case strings.HasPrefix(cmd, "PASS"):
				io.WriteString(c, "+OK logged in\r\n")
				if expectLine(r, "CAPA") { // asked again after login
					io.WriteString(c, "+OK\r\n"+caps+".\r\n")
				}
				then(c, r)
				return
			default:
				io.WriteString(c, "-ERR what\r\n")
			}
		}
	}
}

func expectLine(r *bufio.Reader, prefix string) bool {
	line, err := r.ReadString('\n')
	return err == nil && strings.HasPrefix(line, prefix)
}

const partial = "Subject: x\r\n\r\n"

func TestFaults(t *testing.T) {
	body4k := strings.Repeat("0123456789abcdef", 256) // 4096 bytes, no newline
	tests := []struct {
		name    string
		script  func(net.Conn, *bufio.Reader)
		timeout time.Duration
		want    []error // every one must match
		text    string  // in the error message
	}{
		{
			name:    "stall before greeting",
			script:  func(c net.Conn, r *bufio.Reader) { time.Sleep(3 * time.Second) },
			timeout: 200 * time.Millisecond,
			want:    []error{ErrTimeout},
			text:    "greeting",
		},
		{
			name: "stall mid-message",
			script: loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
				if expectLine(r, "RETR 1") {
					io.WriteString(c, "+OK 9999 octets\r\n"+partial+body4k)
					time.Sleep(3 * time.Second)
				}
			}),
			timeout: 300 * time.Millisecond,
			want:    []error{ErrTruncated, ErrTimeout},
			text:    "RETR 1: read timed out mid-message after 4110 bytes",
		},
		{
			name: "cut mid-message",
			script: loginScript("USER\r\nPIPELINING\r\n", func(c net.Conn, r *bufio.Reader) {
				if expectLine(r, "RETR 1") {
					io.WriteString(c, "+OK 9999 octets\r\n"+partial+body4k)
				}
			}),
			timeout: 5 * time.Second,
			want:    []error{ErrTruncated},
			text:    "RETR 1: connection closed mid-message after 4110 bytes",
		},
		{
			name: "cut after dot-CR",
			script: loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
				if expectLine(r, "RETR 1") {
					io.WriteString(c, "+OK\r\n"+partial+".\r")
				}
			}),
			timeout: 5 * time.Second,
			want:    []error{ErrTruncated},
			text:    "mid-message after 14 bytes",
		},
		{
			name: "cut before status",
			script: loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
				expectLine(r, "RETR 1")
			}),
			timeout: 5 * time.Second,
			want:    []error{ErrClosed},
			text:    "RETR 1: connection closed",
		},
		{
			name: "garbage status",
			script: loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
				if expectLine(r, "RETR 1") {
					io.WriteString(c, "+OKAY\r\n")
				}
			}),
			timeout: 5 * time.Second,
			want:    []error{ErrProtocol},
		},
		{
			name: "endless line",
			script: loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
				if expectLine(r, "RETR 1") {
					io.WriteString(c, "+OK "+strings.Repeat("x", 2*maxLine)+"\r\n")
				}
			}),
			timeout: 5 * time.Second,
			want:    []error{ErrProtocol},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := scripted(t, tt.script)
			ctx := context.Background()
			start := time.Now()
			err := func() error {
				c, err := Dial(ctx, Config{Addr: addr, TLS: TLSNone, CommandTimeout: tt.timeout})
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Auth(ctx, Credentials{Username: "u", Password: "p", Method: "user"}); err != nil {
					return err
				}
				var readErr error
				var n int
				ferr := c.Fetch(ctx, []int{1}, func(info MessageInfo, body io.Reader) error {
					b, err := io.ReadAll(body)
					n, readErr = len(b), err
					return err
				})
				if ferr != nil && readErr == nil && n > 0 {
					t.Errorf("body reader gave %d bytes and no error, but Fetch failed: %v", n, ferr)
				}
				if errors.Is(ferr, io.EOF) {
					t.Errorf("error matches io.EOF: %v", ferr)
				}
				if ferr != nil {
					// The session is now unusable, and says so.
					if nerr := c.Noop(ctx); !errors.Is(nerr, ErrClosed) && !errors.Is(nerr, ErrTruncated) && !errors.Is(nerr, ErrProtocol) && !errors.Is(nerr, ErrTimeout) {
						t.Errorf("Noop after failure: %v", nerr)
					}
				}
				return ferr
			}()
			if err == nil {
				t.Fatal("no error")
			}
			if d := time.Since(start); d > tt.timeout+2*time.Second {
				t.Errorf("took %v", d)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.text) || !strings.HasPrefix(err.Error(), "pop3 "+addr+": ") {
				t.Errorf("error %q, want it to start with the address and contain %q", err, tt.text)
			}
		})
	}
}

func TestResponseCodes(t *testing.T) {
	tests := []struct {
		caps, reply string
		want        error
		not         []error
	}{
		{"USER\r\n", "-ERR [AUTH] bad password", ErrAuth, []error{ErrInUse, ErrTemporary}},
		{"USER\r\n", "-ERR [IN-USE] locked", ErrInUse, []error{ErrAuth}},
		{"USER\r\n", "-ERR [SYS/TEMP] disk full", ErrTemporary, []error{ErrAuth, ErrPermanent}},
		{"USER\r\n", "-ERR [SYS/TEMP/QUOTA] later", ErrTemporary, nil},
		{"USER\r\n", "-ERR [SYS/PERM] account disabled", ErrPermanent, []error{ErrTemporary}},
		{"USER\r\n", "-ERR [LOGIN-DELAY] wait", ErrLoginDelay, []error{ErrAuth}},
		{"USER\r\n", "-err [auth] lower case", ErrAuth, nil},
		{"USER\r\nAUTH-RESP-CODE\r\n", "-ERR no", ErrAuth, nil},
		{"USER\r\n", "-ERR no", nil, []error{ErrAuth}}, // no promise: cannot tell
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
				io.WriteString(c, "+OK hi\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch {
					case strings.HasPrefix(line, "CAPA"):
						io.WriteString(c, "+OK\r\n"+tt.caps+".\r\n")
					case strings.HasPrefix(line, "USER"):
						io.WriteString(c, "+OK\r\n")
					default:
						io.WriteString(c, tt.reply+"\r\n")
					}
				}
			})
			c, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(context.Background(), Credentials{Username: "u", Password: "pw-Secret-77"})
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Auth: %v, want *Error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%v does not match %v", err, tt.want)
			}
			for _, n := range tt.not {
				if errors.Is(err, n) {
					t.Errorf("%v matches %v", err, n)
				}
			}
			if perr.Command != "PASS" || strings.Contains(err.Error(), "pw-Secret-77") {
				t.Errorf("error %q: want command PASS and no password", err)
			}
			// A -ERR leaves the session usable.
			if nerr := c.Noop(context.Background()); errors.Is(nerr, ErrClosed) {
				t.Errorf("session closed after -ERR: %v", nerr)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	addr := scripted(t, loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
		expectLine(r, "STAT")
		time.Sleep(3 * time.Second)
	}))
	c, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone, CommandTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(context.Background(), Credentials{Username: "u", Password: "p", Method: "user"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err = c.Stat(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}
	// A deadline on the context works the same way, reported as such.
	c2, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Auth(context.Background(), Credentials{Username: "u", Password: "p", Method: "user"})
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, _, err := c2.Stat(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat: %v, want context.DeadlineExceeded", err)
	}
}

func TestGreetingERR(t *testing.T) {
	addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "-ERR [SYS/TEMP] too many connections\r\n")
	})
	_, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone})
	if !errors.Is(err, ErrTemporary) {
		t.Fatalf("Dial: %v, want ErrTemporary", err)
	}
}

func TestSTLSInjection(t *testing.T) {
	// A man in the middle appends a forged response after +OK to STLS.
	addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "+OK hi\r\n")
		expectLine(r, "CAPA")
		io.WriteString(c, "+OK\r\nSTLS\r\n.\r\n")
		expectLine(r, "STLS")
		io.WriteString(c, "+OK go ahead\r\n+OK forged\r\n")
		time.Sleep(time.Second)
	})
	_, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSStartTLS, CommandTimeout: 5 * time.Second})
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("Dial: %v, want ErrProtocol", err)
	}
}

// TestAbortMidMessage: cancelling the context or closing the Client while a
// body streams gives the caller a truncation error, not a short message.
func TestAbortMidMessage(t *testing.T) {
	stall := loginScript("USER\r\n", func(c net.Conn, r *bufio.Reader) {
		if expectLine(r, "RETR 1") {
			io.WriteString(c, "+OK\r\n"+partial+"first line\r\n")
			time.Sleep(3 * time.Second)
		}
	})
	tests := []struct {
		name  string
		abort func(c *Client, cancel context.CancelFunc)
		want  []error
		text  string
	}{
		{"cancel", func(c *Client, cancel context.CancelFunc) { cancel() }, []error{ErrTruncated, context.Canceled}, "cancelled mid-message after 26 bytes"},
		{"close", func(c *Client, cancel context.CancelFunc) { c.Close() }, []error{ErrTruncated, ErrClosed}, "mid-message after 26 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := scripted(t, stall)
			c, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone, CommandTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(context.Background(), Credentials{Username: "u", Password: "p", Method: "user"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			var got []byte
			err = c.Fetch(ctx, []int{1}, func(_ MessageInfo, body io.Reader) error {
				time.AfterFunc(100*time.Millisecond, func() { tt.abort(c, cancel) })
				b, err := io.ReadAll(body)
				got = b
				return err
			})
			if time.Since(start) > 2*time.Second {
				t.Errorf("abort took %v", time.Since(start))
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("%v does not match %v", err, w)
				}
			}
			if !strings.Contains(fmt.Sprint(err), tt.text) || string(got) != partial+"first line\r\n" {
				t.Errorf("error %q (want %q), got %q", err, tt.text, got)
			}
		})
	}
}
