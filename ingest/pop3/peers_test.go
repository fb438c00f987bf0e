package pop3

// fetchmail and mpop, the two established POP3 retrievers, fetch from our
// Server: if they get every byte, so will the people who point theirs at
// `mailsift devserver`. Needs the Debian packages fetchmail and mpop.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

func needBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install -y %s)", name, pkg, pkg)
	}
	return p
}

// peerMessages are the edge cases every retriever must bring home intact.
// fetchmail refuses messages that do not start with a header, drops every
// CR and breaks lines longer than its 8 KB buffer, so its set leaves those
// out.
func peerMessages(forFetchmail bool) [][]byte {
	var out [][]byte
	for _, m := range edgeMessages {
		if forFetchmail {
			switch m.name {
			case "dot first line", "empty", "only newline", "lone CR", "long line":
				continue
			}
		}
		out = append(out, m.content)
	}
	// Enough for mpop to pipeline; lines up to 6 KB.
	for n := range 60 {
		out = append(out, fmt.Appendf(nil, "Subject: bulk %d\n\n.leading dot %d\n%s\n", n, n, strings.Repeat("body text ", n*10)))
	}
	return out
}

// delivered reads every regular file under dir; strip edits each one.
func delivered(t *testing.T, dir string, strip func([]byte) []byte) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, strip(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameMessages compares as multisets: retrievers name files their own way.
func sameMessages(t *testing.T, got, want [][]byte) {
	t.Helper()
	count := map[string]int{}
	for _, w := range want {
		count[string(w)]++
	}
	for _, g := range got {
		if count[string(g)] == 0 {
			t.Errorf("delivered a message that was not sent as such: %s", clipTest(g))
			continue
		}
		count[string(g)]--
	}
	for w, n := range count {
		if n > 0 {
			t.Errorf("not delivered (%d times): %s", n, clipTest([]byte(w)))
		}
	}
}

// asLF is how retrievers store a message: what POP3 carried, with LF endings.
func asLF(stored []byte) []byte {
	return bytes.ReplaceAll(onWire(stored), []byte("\r\n"), []byte("\n"))
}

func emlCount(t *testing.T, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// runPeer runs a retriever; exit status 0 is success, and so is okExit
// (fetchmail's 1, "no mail").
func runPeer(t *testing.T, home string, okExit int, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "FETCHMAILHOME="+home, "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && okExit != 0 && ee.ExitCode() == okExit {
		err = nil
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestFetchmail(t *testing.T) {
	bin := needBinary(t, "fetchmail", "fetchmail")
	ca := dovecottest.NewCA(t)
	tests := []struct {
		name string
		opts string // poll options
		keep bool
	}{
		// Plain USER/PASS and RETR, then DELE and QUIT.
		{"plain delete", "sslproto ''", false},
		// STLS with the certificate checked; in keep mode fetchmail reads
		// with TOP n 99999999 and tracks UIDL.
		{"stls keep", fmt.Sprintf("sslproto 'tls1.2+' sslcertck sslcertfile %s sslcommonname localhost", ca.CAFile), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := peerMessages(true)
			dir := writeEML(t, msgs)
			srv := startOwnServer(t, NewDirBackend(dir), ca.Server)
			_, port, _ := net.SplitHostPort(srv.Addr)
			home := t.TempDir()
			out := filepath.Join(home, "out")
			os.Mkdir(out, 0o755)
			keep := "no keep"
			if tt.keep {
				keep = "keep"
			}
			rc := fmt.Sprintf(`set no syslog
set invisible
poll localhost via 127.0.0.1 service %s proto POP3 uidl auth password timeout 30
  user "%s" there with password "%s" is "root" here
  %s
  no rewrite
  %s
  mda "cat > %s/fm.$$"
`, port, testUser, testPass, keep, tt.opts, out)
			rcPath := filepath.Join(home, "fetchmailrc")
			if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-v", "-N", "--nosyslog", "-f", rcPath, "--idfile", filepath.Join(home, "ids"), "--pidfile", filepath.Join(home, "pid")}
			log := runPeer(t, home, 0, bin, args...)
			if tt.keep && !strings.Contains(log, "POP3> STLS") {
				t.Errorf("fetchmail did not use STLS:\n%s", log)
			}
			var want [][]byte
			for _, m := range msgs {
				want = append(want, asLF(m))
			}
			sameMessages(t, delivered(t, out, stripFetchmailReceived), want)
			left := emlCount(t, dir)
			if tt.keep {
				if left != len(msgs) {
					t.Fatalf("keep: %d of %d messages left on the server", left, len(msgs))
				}
				// Stable UIDLs: a second poll finds nothing new.
				log = runPeer(t, home, 1, bin, args...)
				if n := len(delivered(t, out, stripFetchmailReceived)); n != len(msgs) {
					t.Fatalf("second poll delivered %d more messages:\n%s", n-len(msgs), log)
				}
			} else if left != 0 {
				t.Fatalf("%d messages left on the server after fetchmail deleted them", left)
			}
		})
	}
}

// stripFetchmailReceived removes the Received header fetchmail prepends.
func stripFetchmailReceived(b []byte) []byte {
	if !bytes.HasPrefix(b, []byte("Received: from 127.0.0.1")) {
		return b
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := 1
	for i < len(lines) && len(lines[i]) > 0 && (lines[i][0] == ' ' || lines[i][0] == '\t') {
		i++
	}
	return bytes.Join(lines[i:], nil)
}

func TestMpop(t *testing.T) {
	bin := needBinary(t, "mpop", "mpop")
	ca := dovecottest.NewCA(t)
	tests := []struct {
		name     string
		implicit bool
		tls      string
		keep     bool
	}{
		{"plain pipelined keep", false, "tls off", true},
		{"stls delete", false, fmt.Sprintf("tls on\ntls_starttls on\ntls_trust_file %s\ntls_host_override localhost", ca.CAFile), false},
		{"implicit tls keep", true, fmt.Sprintf("tls on\ntls_starttls off\ntls_trust_file %s\ntls_host_override localhost", ca.CAFile), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := peerMessages(false)
			dir := writeEML(t, msgs)
			srv := startOwnServer(t, NewDirBackend(dir), ca.Server)
			addr := srv.Addr
			if tt.implicit {
				addr = srv.TLSAddr
			}
			_, port, _ := net.SplitHostPort(addr)
			home := t.TempDir()
			out := filepath.Join(home, "out")
			for _, sub := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(out, sub), 0o755)
			}
			keep := "off"
			if tt.keep {
				keep = "on"
			}
			rc := fmt.Sprintf(`account test
host 127.0.0.1
port %s
%s
timeout 30
auth user
user %s
password %s
keep %s
only_new on
received_header off
pipelining auto
uidls_file %s/uidls
delivery maildir %s
`, port, tt.tls, testUser, testPass, keep, home, out)
			rcPath := filepath.Join(home, "mpoprc")
			if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			log := runPeer(t, home, 0, bin, "-d", "-C", rcPath, "test")
			if !strings.Contains(strings.ReplaceAll(log, "\r", ""), "--> RETR 1\n--> RETR 2\n") {
				t.Errorf("mpop did not pipeline RETR")
			}
			var want [][]byte
			for _, m := range msgs {
				want = append(want, asLF(m))
			}
			same := func(b []byte) []byte { return b }
			sameMessages(t, delivered(t, out, same), want)
			left := emlCount(t, dir)
			if tt.keep {
				if left != len(msgs) {
					t.Fatalf("keep: %d of %d messages left", left, len(msgs))
				}
				runPeer(t, home, 0, bin, "-q", "-C", rcPath, "test")
				if n := len(delivered(t, out, same)); n != len(msgs) {
					t.Fatalf("second run delivered %d more messages", n-len(msgs))
				}
			} else if left != 0 {
				t.Fatalf("%d messages left on the server after mpop deleted them", left)
			}
		})
	}
}
