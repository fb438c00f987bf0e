package spam

import (
	"fmt"
	"net"
	"net/http"
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

// The tests run the real engines from Debian's packages (rspamd, spamd),
// each started once for the package on a loopback port with its own
// configuration in a temporary directory and every network check off.
var (
	daemonsMu sync.Mutex
	stops     []func()
	rspamdURL string
	spamdAddr string
)

func TestMain(m *testing.M) {
	code := m.Run()
	daemonsMu.Lock()
	for _, stop := range stops {
		stop()
	}
	daemonsMu.Unlock()
	os.Exit(code)
}

func needBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (scripts/install-test-deps.sh does as root)", name, pkg)
	}
	return p
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

// chownTo gives paths to a system user when running as root, so that a
// daemon that drops to that user can write them.
func chownTo(t testing.TB, name string, paths ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// stopProcess ends a daemon by its process id with SIGTERM (rspamd's
// workers leave with their main process only then), SIGKILL after a grace.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) func() {
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

const rspamdConf = `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "console";
    level = "warning";
}
worker "normal" {
    bind_socket = "127.0.0.1:%d";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}
`

// startRspamd starts rspamd once for the package and returns its URL.
// Every module that would look something up is off, and the resolver is
// an address nothing answers on, so a lookup left over would show as a
// slow test rather than a result that depends on the network.
func startRspamd(t testing.TB) string {
	t.Helper()
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	if rspamdURL != "" {
		return rspamdURL
	}
	bin := needBinary(t, "rspamd", "rspamd")
	dir, err := os.MkdirTemp("", "mailsift-rspamd-")
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "local.d")
	for _, d := range []string{"db", "run", "log", "local.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The TLD list is compiled at start (15 s); the result is kept between
	// runs so that later runs start in under a second.
	hsCache := filepath.Join(os.TempDir(), "mailsift-rspamd-hs-cache")
	if err := os.MkdirAll(hsCache, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"options.inc":   fmt.Sprintf("hs_cache_dir = %q;\ndns { nameserver = [\"192.0.2.1:53\"]; }\n", hsCache+"/"),
		"phishing.conf": "phishtank_enabled = false;\n",
	}
	for _, mod := range []string{"rbl", "spf", "dkim", "dmarc", "asn", "fuzzy_check", "hfilter", "multimap", "once_received"} {
		files[mod+".conf"] = "enabled = false;\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(local, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	conf := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rspamdConf, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "-c", conf, "--var=LOCAL_CONFDIR=" + dir,
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + filepath.Join(dir, "run"), "--var=LOGDIR=" + filepath.Join(dir, "log")}
	if os.Geteuid() == 0 {
		// rspamd refuses to run its workers as root.
		args = append(args, "-u", "_rspamd", "-g", "_rspamd")
		chownTo(t, "_rspamd", filepath.Join(dir, "db"), filepath.Join(dir, "run"), filepath.Join(dir, "log"), hsCache)
	}
	logf, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	stop := stopProcess(cmd, done)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, "rspamd", "/ping", filepath.Join(dir, "console.log"), done, stop, func() bool {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	stops = append(stops, func() { stop(); os.RemoveAll(dir) })
	rspamdURL = url
	return url
}

// startSpamd starts spamd once for the package and returns its address:
// local tests only (-L), no per-user settings, Bayes off, one child.
func startSpamd(t testing.TB) string {
	t.Helper()
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	if spamdAddr != "" {
		return spamdAddr
	}
	bin := needBinary(t, "spamd", "spamd")
	needBinary(t, "spamassassin", "spamassassin")
	dir, err := os.MkdirTemp("", "mailsift-spamd-")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// A temp dir of its own: spamd, running as nobody, needs one it may
	// write, and the system's /tmp is not always that.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o755, tmp: 0o1777} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-L", "-x", "-H", home, "-i", addr, "-A", "127.0.0.1", "-m", "1", "--min-children=1",
		"-s", "stderr", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
		chownTo(t, "nobody", home)
	}
	logf, err := os.Create(filepath.Join(dir, "spamd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	stop := stopProcess(cmd, done)
	waitReady(t, "spamd", "PING", filepath.Join(dir, "spamd.log"), done, stop, func() bool { return spamdPing(addr) })
	stops = append(stops, func() { stop(); os.RemoveAll(dir) })
	spamdAddr = addr
	return addr
}

// waitReady polls ready until the daemon answers, for up to 60 s; a daemon
// that exits meanwhile fails the test with its log.
func waitReady(t testing.TB, name, probe, logPath string, done <-chan struct{}, stop func(), ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited at start:\n%s", name, log)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%s did not answer %s within 60 s", name, probe)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// spamdPing sends the protocol's PING, as `spamc -K` does.
func spamdPing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING SPAMC/1.5\r\n\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	return strings.Contains(string(buf[:n]), "PONG")
}
