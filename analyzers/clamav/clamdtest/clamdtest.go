// Package clamdtest starts a real clamd for tests: on loopback and a unix
// socket in a temporary directory, with a small signature database of its
// own made with sigtool, so no download and no system clamd is needed.
//
// The database knows: the EICAR test file (as "Eicar-Test-Signature",
// by its MD5, the way ClamAV's own database names it), the marker of the
// mailsift malware corpus (Marker, as "Mailsift.Test.CorpusMarker"), and,
// when Debian's clamav-testfiles is installed, its clam.exe (as
// "ClamAV-Test-File"), which clamd then finds inside every archive format
// it opens.
package clamdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

// Marker is the string the test database's corpus signature matches.
const Marker = "MAILSIFT-CLAMAV-CORPUS-MARKER"

// TestFiles is where Debian's clamav-testfiles puts ClamAV's harmless test
// files.
const TestFiles = "/usr/share/clamav-testfiles"

// Options tune the daemon.
type Options struct {
	// StreamMaxLength is clamd's limit on one INSTREAM; default "25M".
	StreamMaxLength string
}

// Daemon is a running clamd.
type Daemon struct {
	Dir    string // its config, database, socket and log
	Socket string // unix socket path
	TCP    string // host:port on loopback
	cmd    *exec.Cmd
	exited chan error
}

// Start runs clamd and waits until it answers PING; it stops when the test
// ends.
func Start(tb testing.TB, opts Options) *Daemon {
	tb.Helper()
	d, err := New(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// New runs clamd with its files in dir, which must exist and be short
// enough for a unix socket path.
func New(dir string, opts Options) (*Daemon, error) {
	clamd, err := lookPath("clamd", "/usr/sbin/clamd")
	if err != nil {
		return nil, err
	}
	sigtool, err := lookPath("sigtool", "/usr/bin/sigtool")
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		return nil, err
	}
	if err := writeDatabase(sigtool, dir, db); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if opts.StreamMaxLength == "" {
		opts.StreamMaxLength = "25M"
	}
	d := &Daemon{Dir: dir, Socket: filepath.Join(dir, "clamd.sock"), TCP: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan error, 1)}
	conf := fmt.Sprintf(`Foreground yes
LocalSocket %s
TCPSocket %d
TCPAddr 127.0.0.1
DatabaseDirectory %s
LogFile %s
PidFile %s
StreamMaxLength %s
MaxThreads 4
SelfCheck 0
`, d.Socket, port, db, filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"), opts.StreamMaxLength)
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(clamd, "-c", confPath)
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting clamd: %w", err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	if err := d.waitReady(60 * time.Second); err != nil {
		d.Close()
		return nil, fmt.Errorf("%w; log:\n%s", err, d.Log())
	}
	return d, nil
}

func lookPath(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found: install Debian's clamav and clamav-daemon (scripts/install-test-deps.sh does, as root)", name)
}

// writeDatabase makes test.hdb (MD5 signatures, written by sigtool from
// the files themselves) and test.ndb (a body signature for Marker).
func writeDatabase(sigtool, dir, db string) error {
	files := filepath.Join(dir, "signed")
	if err := os.MkdirAll(files, 0o755); err != nil {
		return err
	}
	// sigtool names a signature after the file it hashed.
	sources := map[string][]byte{"Eicar-Test-Signature": archivetest.EICAR()}
	if b, err := os.ReadFile(filepath.Join(TestFiles, "clam.exe")); err == nil {
		sources["ClamAV-Test-File"] = b
	}
	var hdb strings.Builder
	for name, content := range sources {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return err
		}
		cmd := exec.Command(sigtool, "--md5", name)
		cmd.Dir = files
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("sigtool --md5 %s: %w", name, err)
		}
		hdb.Write(out)
	}
	cmd := exec.Command(sigtool, "--hex-dump")
	cmd.Stdin = strings.NewReader(Marker)
	hex, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("sigtool --hex-dump: %w", err)
	}
	ndb := fmt.Sprintf("Mailsift.Test.CorpusMarker:0:*:%s\n", strings.TrimSpace(string(hex)))
	if err := os.WriteFile(filepath.Join(db, "test.hdb"), []byte(hdb.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(db, "test.ndb"), []byte(ndb), 0o644)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (d *Daemon) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exited:
			d.exited <- err
			return fmt.Errorf("clamd exited at start: %v", err)
		default:
		}
		if d.ping() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("clamd did not answer PING in time")
}

func (d *Daemon) ping() error {
	conn, err := net.DialTimeout("unix", d.Socket, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return err
	}
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil {
		return err
	}
	if reply != "PONG\x00" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// PID is clamd's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// CPUTime is the processor time clamd has used so far (user plus system),
// read from /proc.
func (d *Daemon) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.PID()))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold blanks; utime and stime are fields 14 and 15 of the line.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// Log is clamd's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "clamd.log"))
	return string(b)
}

// Close stops clamd and waits for it.
func (d *Daemon) Close() error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	d.cmd.Process.Signal(os.Interrupt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-d.exited:
	case <-ctx.Done():
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
	return nil
}
