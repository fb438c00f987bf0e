package pop3

// A private Dovecot for integration tests. Other packages may copy this
// file: it needs only the standard library and the Debian packages
// dovecot-core and dovecot-pop3d (the Makefile's test target installs
// them). It never touches /etc/dovecot or a system service: the instance
// has its own config, base_dir, state_dir and log under a temp dir,
// listens on loopback ports picked at random, and is stopped by PID.
//
// Run as root (CI does), Dovecot's processes drop to the usual users
// (dovenull for the login process, dovecot for internals) and mail is
// accessed as "nobody", like the benchmark in shared/bench/pop3-peers.sh.
// Run as another user, it is configured rootless: every process stays
// that user.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const dovecotBin = "/usr/sbin/dovecot"

type dovecot struct {
	Addr     string // plain POP3 on loopback; STLS offered
	TLSAddr  string // implicit TLS on loopback
	CA       *testCA
	Password string // every user's

	dir      string
	uid, gid int // owner of the mail files
}

// startDovecot starts Dovecot with the given users, each with an empty
// Maildir, and stops it when t ends. It fails the test with the fix when
// Dovecot is not installed, and with Dovecot's log when it does not come up.
//
// Users are fixed at start: Dovecot's passwd-file driver looks at the
// file at most once a second, so a user added later may not exist yet.
func startDovecot(t testing.TB, users ...string) *dovecot {
	t.Helper()
	if _, err := os.Stat(dovecotBin); err != nil {
		t.Fatalf("%s not found: install the Debian packages dovecot-core and dovecot-pop3d (apt-get install -y dovecot-core dovecot-pop3d)", dovecotBin)
	}
	if _, err := os.Stat("/usr/lib/dovecot/pop3"); err != nil {
		t.Fatalf("Dovecot's POP3 server is missing: apt-get install -y dovecot-pop3d")
	}
	// Not t.TempDir: Dovecot's unprivileged processes must be able to walk
	// into it, and t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp("", "mailsift-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "state", "mail", "home"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := &dovecot{dir: dir, CA: newTestCA(t), Password: "Dove-pw-81"}

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	mailUser := me
	if root {
		if mailUser, err = user.Lookup("nobody"); err != nil {
			t.Fatalf("root needs the user nobody to run mail processes as: %v", err)
		}
	}
	d.uid, _ = strconv.Atoi(mailUser.Uid)
	d.gid, _ = strconv.Atoi(mailUser.Gid)
	for _, sub := range []string{"mail", "home"} {
		if err := os.Chown(filepath.Join(dir, sub), d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
	}
	// "nodelay" answers a wrong password at once rather than after
	// auth_failure_delay. Dovecot still slows down every login from an
	// address after a failure (its anvil penalty, 2 s and doubling), so
	// tests of wrong passwords are best run last.
	var passwd strings.Builder
	for _, u := range users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s::::::nodelay=yes\n", u, d.Password)
		md := filepath.Join(dir, "mail", u)
		for _, sub := range []string{"", "cur", "new", "tmp"} {
			p := filepath.Join(md, sub)
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, d.uid, d.gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	plainPort, tlsPort := freePort(t), freePort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(plainPort))
	d.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))

	var rootless string
	if !root {
		g, err := user.LookupGroupId(me.Gid)
		if err != nil {
			t.Fatal(err)
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
instance_name = mailsift-test-%[1]d
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
# One session per maildrop, as on many production servers; a second
# session gets -ERR [IN-USE] after Dovecot's fixed 10 s wait for the lock.
pop3_lock_session = yes
auth_verbose = yes
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
%[9]s`, os.Getpid(), dir, d.CA.CertFile, d.CA.KeyFile, d.uid, d.gid, plainPort, tlsPort, rootless)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cmd := exec.Command(dovecotBin, "-F", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	logTail := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		return out.String() + string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range []string{d.Addr, d.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("dovecot exited (%v):\n%s", err, logTail())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("dovecot did not listen on %s within 15s:\n%s", addr, logTail())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", logTail())
		}
	})
	return d
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Maildir returns the path of user's Maildir.
func (d *dovecot) Maildir(user string) string { return filepath.Join(d.dir, "mail", user) }

// Deliver puts a message into user's Maildir (cur/) as a delivery agent
// would, under a name that sorts by n, and returns the file's path.
func (d *dovecot) Deliver(t testing.TB, user string, n int, content []byte) string {
	t.Helper()
	p := filepath.Join(d.Maildir(user), "cur", fmt.Sprintf("%d.M%06dP%d.test:2,", 1700000000+n, n, os.Getpid()))
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, d.uid, d.gid); err != nil {
		t.Fatal(err)
	}
	return p
}

// names of the files left in a Maildir, for checking deletions.
func maildirFiles(t testing.TB, maildir string) []string {
	t.Helper()
	var names []string
	for _, sub := range []string{"cur", "new"} {
		des, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), ".") {
				names = append(names, de.Name())
			}
		}
	}
	return names
}
