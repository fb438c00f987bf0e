// Package dovecottest runs a private Dovecot POP3 server for tests and
// benchmarks. It needs the Debian packages dovecot-core and dovecot-pop3d
// (scripts/install-test-deps.sh installs them) and nothing else: it never
// touches /etc/dovecot or a system service. Each instance has its own
// config, base_dir, state_dir and log under a temp dir, listens on loopback
// ports picked at random, and is stopped by PID.
//
// Run as root (CI does), Dovecot's processes drop to the usual users
// (dovenull for the login process, dovecot for internals) and mail is
// accessed as "nobody", like shared/bench/pop3-peers.sh. Run as another
// user, it is configured rootless: every process stays that user.
//
// Dovecot 2.3 behaviours tests must expect:
//   - Stored LF line endings are sent as CRLF, a message without a final
//     line ending gets one, and an empty message is sent as one CRLF (see
//     Wire). LIST sizes leave out that added final CRLF.
//   - The first line of a message is not dot-stuffed, so stored content
//     that starts with "." arrives without that dot. Real mail starts with
//     a header, never with a dot.
//   - One session per maildrop (pop3_lock_session): a second session waits
//     Dovecot's fixed 10 s for the lock and then gets -ERR [IN-USE]. The
//     lock of a dropped connection is released a moment after the drop.
//   - After a failed login Dovecot delays every later login from the same
//     address (its anvil penalty, 2 s and doubling), even with nodelay:
//     run wrong-password tests last, or against their own instance.
//   - Users are fixed at start: the passwd-file driver looks at the file at
//     most once a second, so a user added later may not exist yet.
package dovecottest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bin is where Debian installs Dovecot.
const Bin = "/usr/sbin/dovecot"

// Password is every user's password.
const Password = "Dove-pw-81"

// Options configure an instance.
type Options struct {
	// Users each get an empty Maildir.
	Users []string
	// Config is appended to the generated dovecot.conf, e.g.
	// "pop3_no_flag_updates = yes".
	Config string
}

// Server is a running Dovecot.
type Server struct {
	Addr     string // plain POP3 on loopback; STLS offered
	TLSAddr  string // implicit TLS on loopback
	CA       *CA    // signed the server's certificate (for localhost and 127.0.0.1)
	Password string // every user's

	dir      string
	uid, gid int // owner of the mail files
	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start starts Dovecot with the given users, each with an empty Maildir,
// and stops it when t ends. It fails the test with the fix when Dovecot is
// not installed, and with Dovecot's log when it does not come up.
func Start(t testing.TB, users ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Users: users})
}

// StartWith is Start with more options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", s.Log())
		}
		if err := s.Close(); err != nil {
			t.Errorf("stopping dovecot: %v", err)
		}
	})
	return s
}

// New starts Dovecot; Close stops it and removes its files.
func New(o Options) (_ *Server, err error) {
	if _, err := os.Stat(Bin); err != nil {
		return nil, fmt.Errorf("%s not found: install the Debian packages dovecot-core and dovecot-pop3d (apt-get install -y dovecot-core dovecot-pop3d)", Bin)
	}
	if _, err := os.Stat("/usr/lib/dovecot/pop3"); err != nil {
		return nil, errors.New("Dovecot's POP3 server is missing: apt-get install -y dovecot-pop3d")
	}
	// Not a test's TempDir: Dovecot's unprivileged processes must be able
	// to walk into it, and a test temp dir's parent is private to root.
	dir, err := os.MkdirTemp("", "mailsift-dovecot-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"run", "state", "mail", "home", "tls"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	ca, err := MakeCA(filepath.Join(dir, "tls"))
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, CA: ca, Password: Password, out: &syncBuffer{}, exited: make(chan struct{})}

	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	root := os.Geteuid() == 0
	mailUser := me
	if root {
		if mailUser, err = user.Lookup("nobody"); err != nil {
			return nil, fmt.Errorf("root needs the user nobody to run mail processes as: %w", err)
		}
	}
	s.uid, _ = strconv.Atoi(mailUser.Uid)
	s.gid, _ = strconv.Atoi(mailUser.Gid)
	for _, sub := range []string{"mail", "home"} {
		if err := os.Chown(filepath.Join(dir, sub), s.uid, s.gid); err != nil {
			return nil, err
		}
	}
	// "nodelay" answers a wrong password at once rather than after
	// auth_failure_delay (the anvil penalty stays, see the package doc).
	var passwd strings.Builder
	for _, u := range o.Users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s::::::nodelay=yes\n", u, s.Password)
		md := s.Maildir(u)
		for _, sub := range []string{"", "cur", "new", "tmp"} {
			p := filepath.Join(md, sub)
			if err := os.Mkdir(p, 0o700); err != nil {
				return nil, err
			}
			if err := os.Chown(p, s.uid, s.gid); err != nil {
				return nil, err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		return nil, err
	}

	plainPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	tlsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(plainPort))
	s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))

	var rootless string
	if !root {
		g, err := user.LookupGroupId(me.Gid)
		if err != nil {
			return nil, err
		}
		rootless = fmt.Sprintf(`default_internal_user = %[1]s
default_internal_group = %[2]s
default_login_user = %[1]s
service pop3-login {
  chroot =
}
service anvil {
  chroot =
}
`, me.Username, g.Name)
	}
	conf := fmt.Sprintf(`# private test instance; nothing here is shared with /etc/dovecot
instance_name = mailsift-test-%[1]d-%[7]d
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[3]s
ssl_key = <%[4]s
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
# APOP needs the password itself, hence the PLAIN scheme below.
auth_mechanisms = plain login apop
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[2]s/passwd
}
userdb {
  driver = static
  args = uid=%[5]d gid=%[6]d home=%[2]s/home/%%u
}
mail_location = maildir:%[2]s/mail/%%u
pop3_uidl_format = %%08Xu%%08Xv
# One session per maildrop, as on many production servers.
pop3_lock_session = yes
auth_verbose = yes
# Answer a wrong password at once (the anvil penalty remains, see above).
auth_failure_delay = 0
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[7]d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %[8]d
    ssl = yes
  }
}
%[9]s
%[10]s
`, os.Getpid(), dir, ca.CertFile, ca.KeyFile, s.uid, s.gid, plainPort, tlsPort, rootless, o.Config)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}

	s.cmd = exec.Command(Bin, "-F", "-c", confPath)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting dovecot: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range []string{s.Addr, s.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exited:
				return nil, fmt.Errorf("dovecot exited (%v):\n%s", s.waitErr, s.Log())
			default:
			}
			if time.Now().After(deadline) {
				log := s.Log()
				s.stop()
				return nil, fmt.Errorf("dovecot did not listen on %s within 15s:\n%s", addr, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s, nil
}

// Close stops Dovecot (SIGTERM, then SIGKILL after 10 s) and removes its
// directory with the mail in it.
func (s *Server) Close() error {
	s.stop()
	return os.RemoveAll(s.dir)
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// PID is the process id of Dovecot's master process, whose children
// (login, auth and pop3 processes) serve the connections.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log returns what Dovecot wrote to its log and its standard output.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
	return s.out.String() + string(b)
}

// Maildir returns the path of user's Maildir.
func (s *Server) Maildir(user string) string { return filepath.Join(s.dir, "mail", user) }

// Put stores a message in user's Maildir (cur/) as a delivery agent would,
// under a name that sorts by n, and returns the file's path. Dovecot
// numbers the messages of a new mailbox in that order.
func (s *Server) Put(user string, n int, content []byte) (string, error) {
	p := filepath.Join(s.Maildir(user), "cur", fmt.Sprintf("%d.M%06dP%d.test:2,", 1700000000+n, n, os.Getpid()))
	if err := os.WriteFile(p, content, 0o600); err != nil {
		return "", err
	}
	if err := os.Chown(p, s.uid, s.gid); err != nil {
		return "", err
	}
	return p, nil
}

// Deliver is Put for tests.
func (s *Server) Deliver(t testing.TB, user string, n int, content []byte) string {
	t.Helper()
	p, err := s.Put(user, n, content)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Files returns the names of the messages in user's Maildir, for checking
// what was deleted.
func (s *Server) Files(t testing.TB, user string) []string {
	t.Helper()
	names, err := MaildirFiles(s.Maildir(user))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// MaildirFiles returns the names of the messages in a Maildir's cur/ and
// new/, without their flags suffix.
func MaildirFiles(maildir string) ([]string, error) {
	var names []string
	for _, sub := range []string{"cur", "new"} {
		des, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), ".") {
				name, _, _ := strings.Cut(de.Name(), ":")
				names = append(names, name)
			}
		}
	}
	return names, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Wire is what Dovecot sends in answer to RETR for stored content, before
// dot-stuffing: every LF gets a CR unless it has one, a message without a
// final line ending gets CRLF, and an empty message is one CRLF.
func Wire(stored []byte) []byte {
	if len(stored) == 0 {
		return []byte("\r\n")
	}
	out := make([]byte, 0, len(stored)+len(stored)/32+2)
	for i, c := range stored {
		if c == '\n' && (i == 0 || stored[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

// syncBuffer collects Dovecot's output, written by exec's copier goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
