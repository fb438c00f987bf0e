package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

// rawSession writes a whole script at once, as a pipelining client does,
// and returns everything the server sent until it closed the connection.
func rawSession(t *testing.T, addr, script string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, script); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading transcript: %v (got %q)", err, b)
	}
	return string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestServerTranscripts(t *testing.T) {
	msgs := [][]byte{
		[]byte("Subject: one\n\n.dot\nbody\n"), // 28 octets on the wire
		[]byte("Subject: two\r\n\r\nx"),        // 19
	}
	uid1, uid2 := uidOf("0001.eml"), uidOf("0002.eml")
	login := "USER alice\r\nPASS " + testPass + "\r\n"
	loggedIn := "+OK send PASS\r\n+OK alice has 2 messages (47 octets)\r\n"
	tests := []struct {
		name   string
		script string
		want   string // after the greeting
	}{
		{"pipelined session", login + "STAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\nSTAT\r\nLIST 1\r\nRSET\r\nNOOP\r\nQUIT\r\n",
			loggedIn + "+OK 2 47\r\n" +
				"+OK 2 messages (47 octets)\r\n1 28\r\n2 19\r\n.\r\n" +
				"+OK 2 " + uid2 + "\r\n" +
				"+OK 28 octets\r\nSubject: one\r\n\r\n..dot\r\nbody\r\n.\r\n" +
				"+OK top of message follows\r\nSubject: two\r\n\r\n.\r\n" +
				"+OK message 1 deleted\r\n+OK 1 19\r\n-ERR message 1 already deleted\r\n" +
				"+OK maildrop has 2 messages (47 octets)\r\n+OK\r\n+OK bye (2 messages left)\r\n"},
		{"lower-case commands", "user alice\r\npass " + testPass + "\r\nuidl\r\nquit\r\n",
			loggedIn + "+OK 2 messages (47 octets)\r\n1 " + uid1 + "\r\n2 " + uid2 + "\r\n.\r\n+OK bye (2 messages left)\r\n"},
		{"before login", "STAT\r\nRETR 1\r\nPASS x\r\nNOOP\r\nQUIT\r\n",
			"-ERR command not valid before login\r\n-ERR command not valid before login\r\n-ERR USER first\r\n-ERR command not valid before login\r\n+OK bye\r\n"},
		{"bad arguments", login + "RETR 0\r\nRETR 3\r\nRETR +1\r\nRETR x\r\nTOP 1\r\nTOP 1 -1\r\nDELE\r\nLIST 9\r\nXYZZY\r\nQUIT\r\n",
			loggedIn + "-ERR no such message\r\n-ERR no such message\r\n-ERR no such message\r\n-ERR no such message\r\n" +
				"-ERR TOP needs a message number\r\n-ERR TOP needs a line count\r\n-ERR DELE needs a message number\r\n-ERR no such message\r\n" +
				"-ERR unknown command\r\n+OK bye (2 messages left)\r\n"},
		{"three wrong passwords hang up", "USER alice\r\nPASS a\r\nUSER alice\r\nPASS b\r\nUSER alice\r\nPASS c\r\nSTAT\r\n",
			"+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n" +
				"+OK send PASS\r\n-ERR [AUTH] invalid user name or password; too many failures\r\n"},
		{"auth plain initial response", "AUTH PLAIN " + b64("\x00alice\x00"+testPass) + "\r\nQUIT\r\n",
			"+OK alice has 2 messages (47 octets)\r\n+OK bye (2 messages left)\r\n"},
		{"auth plain continuation", "AUTH PLAIN\r\n" + b64("alice\x00alice\x00"+testPass) + "\r\nQUIT\r\n",
			"+ \r\n+OK alice has 2 messages (47 octets)\r\n+OK bye (2 messages left)\r\n"},
		{"auth plain other identity", "AUTH PLAIN " + b64("bob\x00alice\x00"+testPass) + "\r\nQUIT\r\n",
			"-ERR [AUTH] invalid user name or password\r\n+OK bye\r\n"},
		{"auth login", "AUTH LOGIN\r\n" + b64("alice") + "\r\n" + b64(testPass) + "\r\nQUIT\r\n",
			"+ " + b64("Username:") + "\r\n+ " + b64("Password:") + "\r\n+OK alice has 2 messages (47 octets)\r\n+OK bye (2 messages left)\r\n"},
		{"auth login initial response", "AUTH LOGIN " + b64("alice") + "\r\n" + b64(testPass) + "\r\nQUIT\r\n",
			"+ " + b64("Password:") + "\r\n+OK alice has 2 messages (47 octets)\r\n+OK bye (2 messages left)\r\n"},
		{"auth cancelled", "AUTH PLAIN\r\n*\r\nQUIT\r\n", "+ \r\n-ERR authentication cancelled\r\n+OK bye\r\n"},
		{"auth bad base64", "AUTH PLAIN !!!\r\nQUIT\r\n", "-ERR invalid base64\r\n+OK bye\r\n"},
		{"auth mechanisms", "AUTH\r\nAUTH CRAM-MD5\r\nQUIT\r\n", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n-ERR unsupported SASL mechanism\r\n+OK bye\r\n"},
		{"capa and no STLS without TLS", "CAPA\r\nSTLS\r\nQUIT\r\n",
			"+OK capability list follows\r\nTOP\r\nUIDL\r\nPIPELINING\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\nIMPLEMENTATION mailsift\r\n.\r\n" +
				"-ERR STLS not available\r\n+OK bye\r\n"},
		{"capa after login", login + "CAPA\r\nQUIT\r\n",
			loggedIn + "+OK capability list follows\r\nTOP\r\nUIDL\r\nPIPELINING\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nIMPLEMENTATION mailsift\r\n.\r\n+OK bye (2 messages left)\r\n"},
		{"overlong line", "USER " + strings.Repeat("a", maxCommandLine+10) + "\r\n", "-ERR line too long\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startOwnServer(t, NewDirBackend(writeEML(t, msgs)), nil)
			got := rawSession(t, srv.Addr, tt.script)
			greeting, rest, _ := strings.Cut(got, "\r\n")
			if !strings.HasPrefix(greeting, "+OK ") || apopTimestamp(greeting) == "" {
				t.Errorf("greeting %q has no APOP timestamp", greeting)
			}
			if rest != tt.want {
				t.Errorf("transcript:\n%s\nwant:\n%s", strings.ReplaceAll(rest, "\r\n", "⏎\n"), strings.ReplaceAll(tt.want, "\r\n", "⏎\n"))
			}
		})
	}
}

// TestServerSTLSDiscardsPipelined: commands sent in the clear behind STLS
// could be an attacker's; the server must not run them inside TLS.
func TestServerSTLSDiscardsPipelined(t *testing.T) {
	ca := dovecottest.NewCA(t)
	srv := startOwnServer(t, NewDirBackend(writeEML(t, nil)), ca.Server)
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	io.WriteString(c, "STLS\r\nUSER injected\r\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("STLS: %q", line)
	}
	tc := tls.Client(c, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tc, "PASS x\r\nQUIT\r\n")
	b, _ := io.ReadAll(tc)
	if want := "-ERR USER first\r\n+OK bye\r\n"; string(b) != want {
		t.Fatalf("after STLS: %q, want %q (the injected USER must be ignored)", b, want)
	}
}

func TestServerShutdown(t *testing.T) {
	dir := writeEML(t, [][]byte{[]byte("a\n"), []byte("b\n")})
	srv := &Server{Backend: NewDirBackend(dir), Users: map[string]string{testUser: testPass}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx := context.Background()
	c := dialOwn(t, ln.Addr().String())
	if err := c.Auth(ctx, Credentials{Username: testUser, Password: testPass}); err != nil {
		t.Fatal(err)
	}
	if err := c.Dele(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with an idle session", d)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	// The idle session was told and ended without deleting anything.
	if err := c.Noop(ctx); !errors.Is(err, ErrTemporary) && !errors.Is(err, ErrClosed) {
		t.Errorf("Noop after Shutdown: %v", err)
	}
	if n := emlCount(t, dir); n != 2 {
		t.Errorf("%d messages left, want 2: Shutdown must not commit deletions", n)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func TestServerIdleTimeout(t *testing.T) {
	srv := &Server{Backend: NewDirBackend(t.TempDir()), Users: map[string]string{"u": "p"}, Timeout: 200 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.ReadAll(c) // greeting, then the server hangs up
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("idle session closed after %v, want about 200ms", d)
	}
}

func TestCopyWire(t *testing.T) {
	tests := []struct {
		in    string
		stuff bool
		lines int
		want  string
	}{
		{"", true, -1, ""},
		{"a", true, -1, "a\r\n"},
		{"a\nb", true, -1, "a\r\nb\r\n"},
		{".\n..\n.a", true, -1, "..\r\n...\r\n..a\r\n"},
		{".\n", false, -1, ".\r\n"},
		{"a\r\n\r\n", true, -1, "a\r\n\r\n"},
		{"a\r", true, -1, "a\r\r\n"},
		{"h: 1\n\nb1\nb2\n", true, 0, "h: 1\r\n\r\n"},
		{"h: 1\n\nb1\nb2\n", true, 1, "h: 1\r\n\r\nb1\r\n"},
		{"h: 1\r\n\r\n.b1\r\nb2\r\n", true, 1, "h: 1\r\n\r\n..b1\r\n"},
		{"h: 1\nh: 2\n", true, 0, "h: 1\r\nh: 2\r\n"}, // no body at all
		{strings.Repeat("x", 70000) + "\n.", true, -1, strings.Repeat("x", 70000) + "\r\n..\r\n"},
		{strings.Repeat("y", 32767) + "\r\n", true, -1, strings.Repeat("y", 32767) + "\r\n"}, // CR at a buffer edge
	}
	for _, tt := range tests {
		var b bytes.Buffer
		n, err := copyWire(&b, strings.NewReader(tt.in), tt.stuff, tt.lines)
		if err != nil || b.String() != tt.want {
			t.Errorf("copyWire(%s, %v, %d) = %s, %v; want %s", clipTest([]byte(tt.in)), tt.stuff, tt.lines, clipTest(b.Bytes()), err, clipTest([]byte(tt.want)))
		}
		if dots := int64(strings.Count(b.String(), "\n..") + boolInt(strings.HasPrefix(b.String(), ".."))); tt.stuff && n != int64(b.Len())-dots {
			t.Errorf("copyWire(%s) counted %d, wrote %d with %d stuffing dots", clipTest([]byte(tt.in)), n, b.Len(), dots)
		}
		if tt.lines < 0 {
			if size, _ := WireSize(strings.NewReader(tt.in)); size != int64(len(onWire([]byte(tt.in)))) {
				t.Errorf("WireSize(%s) = %d, want %d", clipTest([]byte(tt.in)), size, len(onWire([]byte(tt.in))))
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
