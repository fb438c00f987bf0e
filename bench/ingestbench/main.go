// Command ingestbench times POP3 retrieval from a private Dovecot on
// loopback: mailsift's ingest into JetStream beside fetchmail and mpop in
// keep mode, and a raw pipelined RETR loop that discards what it reads as
// the ceiling. bench/ingest.sh builds and runs it; see docs/benchmarks.md,
// "POP3 ingest".
//
// For each mailbox (COUNTxKB) it starts Dovecot, fills a Maildir with
// synthetic mail, warms Dovecot's index up with one raw fetch, and then,
// for each TLS mode, runs every peer -reps times, each time fetching every
// message. It prints a Markdown table: median wall time, msg/s and MB/s
// (10^6 octets as Dovecot's STAT counts them, CRLF included), and msg/s or
// MB/s as a share of the raw loop's.
//
// Peers:
//
//	raw        this program's own loop: USER/PASS, STAT, UIDL, RETRs 32 in
//	           flight, payload scanned for the terminating dot and discarded
//	mailsift   ingest.Poller.Once in this process against an embedded NATS
//	           with file storage, fresh for each repetition; timed from dial
//	           to QUIT, when every message is acknowledged by JetStream and
//	           its UIDL state written (delete: never)
//	mailsift-s2  the same with nats.compression: s2 on the MAIL stream:
//	           what that compression costs
//	mailsift-run  `mailsift run --roles ingest --once` as a process, the
//	           same work plus process start, NATS start and stream set-up
//	fetchmail  keep, uidl, one `cat > file` per message (its mda)
//	mpop       keep on, delivery to a Maildir
//
// Peers that are programs run as the user nobody, with their state (UIDL
// files) and output cleared before each repetition.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailsift/mailsift/ingest"
	"github.com/mailsift/mailsift/internal/dovecottest"
	"github.com/mailsift/mailsift/pipeline"
)

const benchUser = "bench"

func main() {
	var (
		sets    = flag.String("sets", "1000x10,200x500", "mailboxes to fetch, COUNTxKB, comma-separated")
		modes   = flag.String("modes", "plain,tls", "plain (no TLS), tls (implicit TLS, port 995 style), comma-separated")
		peers   = flag.String("peers", "raw,mailsift,mailsift-s2,mailsift-run,fetchmail,mpop", "peers to time, comma-separated")
		reps    = flag.Int("reps", 3, "repetitions of each peer; the median is reported")
		bin     = flag.String("mailsift", "bin/mailsift", "mailsift binary, for the mailsift-run peer")
		work    = flag.String("dir", "", "directory to work in, inside a directory of its own; nobody must be able to enter it (default: the system's temp dir)")
		profile = flag.String("cpuprofile", "", "write a CPU profile of this process (raw and mailsift peers) to this file")
	)
	flag.Parse()
	// The mailsift peer runs in this process; give it the collector
	// setting the mailsift binary starts with (an explicit GOGC wins).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	b := &bench{reps: *reps, bin: *bin, peers: split(*peers)}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := b.run(*work, split(*sets), split(*modes)); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type bench struct {
	reps  int
	bin   string
	peers []string

	dir    string
	d      *dovecottest.Server
	count  int
	octets int64 // STAT's size of the mailbox
	nobody *user.User
}

// result is one peer's runs in one mode.
type result struct {
	set, mode, peer string
	times, cpu, srv []time.Duration
	note            string
}

func (b *bench) run(work string, sets, modes []string) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: Dovecot switches to its service users, and the peers run as nobody")
	}
	var err error
	if b.nobody, err = user.Lookup("nobody"); err != nil {
		return err
	}
	// A directory of its own, even inside the one given: the peers running
	// as nobody need it traversable, and changing the mode of a directory
	// the caller named (once it was /tmp, which lost its sticky,
	// world-writable mode) is not the benchmark's to do.
	if work, err = os.MkdirTemp(work, "ingestbench-"); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	b.dir = work
	os.Setenv("INGESTBENCH_PASSWORD", dovecottest.Password)

	host, _ := os.Hostname()
	fmt.Printf("# ingestbench %s: %d CPU, %s, %s; %s; %s\n", time.Now().UTC().Format("2006-01-02T15:04Z"),
		runtime.NumCPU(), kernel(), firstLine("dovecot", "--version"), firstLine("fetchmail", "--version"), firstLine("mpop", "--version"))
	fmt.Printf("# host %s; repetitions %d (median); MB = 10^6 octets of the mailbox as STAT counts them\n", host, b.reps)
	for _, set := range sets {
		count, kb, err := parseSet(set)
		if err != nil {
			return err
		}
		rows, err := b.runSet(set, count, kb, modes)
		if err != nil {
			return fmt.Errorf("%s: %w", set, err)
		}
		printTable(rows, b.count, b.octets)
	}
	return nil
}

func parseSet(s string) (count, kb int, err error) {
	c, k, ok := strings.Cut(s, "x")
	if ok {
		count, err = strconv.Atoi(c)
		if err == nil {
			kb, err = strconv.Atoi(k)
		}
	}
	if !ok || err != nil || count <= 0 || kb <= 0 {
		return 0, 0, fmt.Errorf("mailbox %q: want COUNTxKB, such as 1000x10", s)
	}
	return count, kb, nil
}

func (b *bench) runSet(set string, count, kb int, modes []string) ([]result, error) {
	// pop3_no_flag_updates as in shared/bench/pop3-peers.sh: keep mode
	// then leaves the Maildir as it was, so every repetition is the same.
	d, err := dovecottest.New(dovecottest.Options{Users: []string{benchUser}, Config: "pop3_no_flag_updates = yes"})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	b.d, b.count = d, count
	rng := rand.New(rand.NewPCG(uint64(count), uint64(kb)))
	for i := 1; i <= count; i++ {
		if _, err := d.Put(benchUser, i, message(rng, i, kb<<10)); err != nil {
			return nil, err
		}
	}
	// Warm-up: Dovecot builds its index and caches sizes and UIDLs.
	for _, mode := range modes {
		n, octets, err := b.raw(mode)
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if n != count {
			return nil, fmt.Errorf("warm-up: STAT says %d messages, want %d", n, count)
		}
		b.octets = octets
	}
	time.Sleep(100 * time.Millisecond) // the warm-up's sessions end before the timing starts
	// Rounds rather than one peer's repetitions in a row: a change in the
	// machine's load then touches every peer alike.
	var rows []result
	for _, mode := range modes {
		fmt.Fprintf(os.Stderr, "%s %s: load %s\n", set, mode, loadavg())
		first := len(rows)
		for _, peer := range b.peers {
			rows = append(rows, result{set: set, mode: mode, peer: peer})
		}
		for range b.reps {
			for i := first; i < len(rows); i++ {
				r := &rows[i]
				if r.note != "" {
					continue
				}
				srv := b.serverCPU()
				el, cpu, err := b.once(r.peer, mode)
				if err != nil {
					r.note = err.Error()
					continue
				}
				// Dovecot's session process is counted once reaped.
				time.Sleep(100 * time.Millisecond)
				r.times = append(r.times, el)
				r.cpu = append(r.cpu, cpu)
				r.srv = append(r.srv, b.serverCPU()-srv)
			}
		}
		for _, r := range rows[first:] {
			fmt.Fprintf(os.Stderr, "  %-12s %v cpu %v dovecot %v %s\n", r.peer, r.times, r.cpu, r.srv, r.note)
		}
	}
	fmt.Printf("\n## %s: %d messages of %d KB, %.1f MB on the wire; load average %s\n", set, count, kb, float64(b.octets)/1e6, loadavg())
	return rows, nil
}

// once runs a peer once and returns the wall time and the CPU time (user
// and system) of the peer's process, or of this one for the peers that run
// in it, the embedded NATS server included.
func (b *bench) once(peer, mode string) (wall, cpu time.Duration, err error) {
	// Every peer starts with the disk quiet: the writeback of what the
	// previous one stored (and the discards of its removed store) would
	// otherwise fall into this one's time.
	syscall.Sync()
	self := selfCPU()
	switch peer {
	case "raw":
		start := time.Now()
		var n int
		n, _, err = b.raw(mode)
		wall = time.Since(start)
		if err == nil && n != b.count {
			err = fmt.Errorf("raw: %d messages, want %d", n, b.count)
		}
		return wall, selfCPU() - self, err
	case "mailsift", "mailsift-s2":
		wall, err = b.mailsift(mode, peer == "mailsift-s2", &cpu)
		return wall, cpu, err
	case "mailsift-run":
		return b.mailsiftRun(mode)
	case "fetchmail":
		return b.fetchmail(mode)
	case "mpop":
		return b.mpop(mode)
	}
	return 0, 0, fmt.Errorf("unknown peer %q", peer)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time of Dovecot's finished children: a POP3
// session's process counts once it has exited after QUIT.
func (b *bench) serverCPU() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.d.PID()))
	if err != nil {
		return 0
	}
	// Fields after the command name in parentheses; cutime and cstime are
	// the 16th and 17th of the whole line.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cu+cs) * time.Second / 100 // clock ticks (USER_HZ)
}

func childCPU(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

func (b *bench) addr(mode string) string {
	if mode == "tls" {
		return b.d.TLSAddr
	}
	return b.d.Addr
}

// raw fetches every message with a minimal pipelined POP3 exchange and
// discards the payloads: what the server and the loopback can do, with as
// little client work as there can be. It returns STAT's count and size.
func (b *bench) raw(mode string) (int, int64, error) {
	conn, err := net.Dial("tcp", b.addr(mode))
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	if mode == "tls" {
		tc := tls.Client(conn, &tls.Config{RootCAs: b.d.CA.Pool, ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			return 0, 0, err
		}
		conn = tc
	}
	r := bufio.NewReaderSize(conn, 256<<10)
	w := bufio.NewWriterSize(conn, 4<<10)
	status := func() (string, error) {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		if !bytes.HasPrefix(line, []byte("+OK")) {
			return "", fmt.Errorf("server: %q", bytes.TrimSpace(line))
		}
		return string(bytes.TrimSpace(line[3:])), nil
	}
	command := func(c string) (string, error) {
		w.WriteString(c + "\r\n")
		if err := w.Flush(); err != nil {
			return "", err
		}
		return status()
	}
	if _, err := status(); err != nil {
		return 0, 0, err
	}
	if _, err := command("USER " + benchUser); err != nil {
		return 0, 0, err
	}
	if _, err := command("PASS " + dovecottest.Password); err != nil {
		return 0, 0, err
	}
	st, err := command("STAT")
	if err != nil {
		return 0, 0, err
	}
	var n int
	var octets int64
	if _, err := fmt.Sscan(st, &n, &octets); err != nil {
		return 0, 0, fmt.Errorf("STAT %q: %w", st, err)
	}
	if _, err := command("UIDL"); err != nil {
		return 0, 0, err
	}
	if _, err := discardPayload(r); err != nil {
		return 0, 0, err
	}
	const window = 32
	sent, done := 0, 0
	var payload int64 // as sent, dot-stuffing included
	for done < n {
		if sent-done <= window/2 {
			for sent < n && sent-done < window {
				sent++
				w.WriteString("RETR " + strconv.Itoa(sent) + "\r\n")
			}
			if err := w.Flush(); err != nil {
				return 0, 0, err
			}
		}
		if _, err := status(); err != nil {
			return 0, 0, err
		}
		got, err := discardPayload(r)
		if err != nil {
			return 0, 0, err
		}
		payload += got
		done++
	}
	if _, err := command("QUIT"); err != nil {
		return 0, 0, err
	}
	if payload < octets {
		return 0, 0, fmt.Errorf("raw: read %d octets of payload, STAT announced %d", payload, octets)
	}
	return n, octets, nil
}

var terminator = []byte("\r\n.\r\n")

// discardPayload skips a multi-line payload through its terminating
// ".\r\n", searching whole buffers for CRLF.CRLF rather than going line by
// line. The payload starts right after a CRLF (the status line's).
func discardPayload(r *bufio.Reader) (int64, error) {
	tail := []byte("\r\n") // the last bytes consumed, up to 4
	var n int64
	for {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				return n, err
			}
		}
		buf, _ := r.Peek(r.Buffered())
		// A terminator may straddle what was consumed and what is buffered.
		for k := 1; k < len(terminator); k++ {
			if bytes.HasSuffix(tail, terminator[:k]) && bytes.HasPrefix(buf, terminator[k:]) {
				r.Discard(len(terminator) - k)
				return n + 2 - int64(k), nil
			}
		}
		if i := bytes.Index(buf, terminator); i >= 0 {
			r.Discard(i + len(terminator))
			return n + int64(i) + 2, nil
		}
		n += int64(len(buf))
		if len(buf) >= 4 {
			tail = append(tail[:0], buf[len(buf)-4:]...)
		} else {
			tail = append(tail, buf...)
			tail = tail[max(0, len(tail)-4):]
		}
		r.Discard(len(buf))
	}
}

func (b *bench) mailbox(mode string) ingest.Mailbox {
	host, port, _ := net.SplitHostPort(b.addr(mode))
	p, _ := strconv.Atoi(port)
	mb := ingest.Mailbox{Name: "bench", Host: host, Port: p, TLS: "none", Username: benchUser,
		PasswordEnv: "INGESTBENCH_PASSWORD", Delete: "never", AllowPlaintext: true}
	if mode == "tls" {
		mb.TLS, mb.CAFile, mb.ServerName = "implicit", b.d.CA.CAFile, "localhost"
	}
	mb.Defaults()
	return mb
}

// mailsift runs one poll in this process into a fresh JetStream store.
func (b *bench) mailsift(mode string, s2 bool, cpu *time.Duration) (time.Duration, error) {
	ctx := context.Background()
	store, err := os.MkdirTemp(b.dir, "nats-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(store)
	cfg := pipeline.Defaults()
	cfg.StoreDir = store
	if s2 {
		cfg.Compression = "s2"
	}
	log := slog.New(slog.DiscardHandler)
	conn, err := pipeline.Connect(ctx, cfg, log)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.Setup(ctx, nil, pipeline.DefaultWorker()); err != nil {
		return 0, err
	}
	kv, err := conn.JS.KeyValue(ctx, pipeline.BucketUIDL)
	if err != nil {
		return 0, err
	}
	mb := b.mailbox(mode)
	p := ingest.NewPoller(conn, kv, []ingest.Mailbox{mb}, nil, log)
	self := selfCPU()
	start := time.Now()
	stats, err := p.Once(ctx)
	el := time.Since(start)
	*cpu = selfCPU() - self
	if err != nil {
		return el, err
	}
	if n := len(stats[0].Published); n != b.count {
		return el, fmt.Errorf("mailsift published %d messages, want %d", n, b.count)
	}
	s, err := conn.JS.Stream(ctx, pipeline.StreamMail)
	if err != nil {
		return el, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return el, err
	}
	if info.State.Msgs != uint64(b.count) {
		return el, fmt.Errorf("MAIL holds %d messages, want %d", info.State.Msgs, b.count)
	}
	return el, nil
}

// mailsiftRun runs the mailsift binary's ingest role once.
func (b *bench) mailsiftRun(mode string) (time.Duration, time.Duration, error) {
	dir, err := os.MkdirTemp(b.dir, "run-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	mb := b.mailbox(mode)
	conf := fmt.Sprintf(`nats:
  store_dir: %s/nats
mailboxes:
  - name: bench
    host: %s
    port: %d
    tls: %s
    ca_file: %q
    server_name: %q
    username: %s
    password_env: INGESTBENCH_PASSWORD
    delete: never
log:
  level: warn
`, dir, mb.Host, mb.Port, mb.TLS, mb.CAFile, mb.ServerName, mb.Username)
	path := filepath.Join(dir, "mailsift.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(b.bin, "run", "-c", path, "--roles", "ingest", "--once")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	el := time.Since(start)
	if err != nil {
		return el, 0, fmt.Errorf("%s: %v: %s", b.bin, err, lastLine(out))
	}
	return el, childCPU(cmd.ProcessState), nil
}

// peerDir makes an empty directory owned by nobody, with a Maildir in out/.
func (b *bench) peerDir(name string) (string, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	for _, sub := range []string{"", "out", "out/cur", "out/new", "out/tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return "", err
		}
		uid, _ := strconv.Atoi(b.nobody.Uid)
		gid, _ := strconv.Atoi(b.nobody.Gid)
		if err := os.Chown(filepath.Join(dir, sub), uid, gid); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (b *bench) asNobody(dir string, name string, args ...string) (time.Duration, time.Duration, error) {
	args = append([]string{"-u", "nobody", "--", "env", "HOME=" + dir, "LC_ALL=C", name}, args...)
	cmd := exec.Command("runuser", args...)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	el := time.Since(start)
	if err != nil {
		return el, 0, fmt.Errorf("%s: %v: %s", name, err, lastLine(out))
	}
	n, err := countFiles(filepath.Join(dir, "out"))
	if err == nil && n != b.count {
		err = fmt.Errorf("%s delivered %d messages, want %d", name, n, b.count)
	}
	// runuser waits for the peer, so its usage includes the peer's.
	return el, childCPU(cmd.ProcessState), err
}

func (b *bench) fetchmail(mode string) (time.Duration, time.Duration, error) {
	dir, err := b.peerDir("fetchmail")
	if err != nil {
		return 0, 0, err
	}
	_, port, _ := net.SplitHostPort(b.addr(mode))
	tlsOpt := "sslproto ''"
	if mode == "tls" {
		tlsOpt = fmt.Sprintf("ssl sslcertck sslcertfile %s sslcommonname localhost", b.d.CA.CAFile)
	}
	rc := fmt.Sprintf(`set no syslog
poll 127.0.0.1 service %s proto POP3 uidl auth password timeout 120
  user "%s" there with password "%s" is "nobody" here
  keep
  %s
  mda "cat > %s/out/cur/fm.$$"
`, port, benchUser, dovecottest.Password, tlsOpt, dir)
	if err := b.writeOwned(filepath.Join(dir, "fetchmailrc"), rc); err != nil {
		return 0, 0, err
	}
	return b.asNobody(dir, "fetchmail", "-N", "--nosyslog", "-s", "-f", filepath.Join(dir, "fetchmailrc"),
		"--idfile", filepath.Join(dir, "idfile"), "--pidfile", filepath.Join(dir, "pid"))
}

func (b *bench) mpop(mode string) (time.Duration, time.Duration, error) {
	dir, err := b.peerDir("mpop")
	if err != nil {
		return 0, 0, err
	}
	_, port, _ := net.SplitHostPort(b.addr(mode))
	tlsOpt := "tls off"
	if mode == "tls" {
		tlsOpt = fmt.Sprintf("tls on\ntls_starttls off\ntls_trust_file %s\ntls_host_override localhost", b.d.CA.CAFile)
	}
	rc := fmt.Sprintf(`account bench
host 127.0.0.1
port %s
%s
timeout 120
auth user
user %s
password %s
keep on
only_new on
received_header off
pipelining auto
uidls_file %s/uidls
delivery maildir %s/out
`, port, tlsOpt, benchUser, dovecottest.Password, dir, dir)
	if err := b.writeOwned(filepath.Join(dir, "mpoprc"), rc); err != nil {
		return 0, 0, err
	}
	return b.asNobody(dir, "mpop", "-q", "-C", filepath.Join(dir, "mpoprc"), "bench")
}

func (b *bench) writeOwned(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	uid, _ := strconv.Atoi(b.nobody.Uid)
	gid, _ := strconv.Atoi(b.nobody.Gid)
	return os.Chown(path, uid, gid)
}

func countFiles(maildir string) (int, error) {
	n := 0
	for _, sub := range []string{"cur", "new"} {
		des, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			return 0, err
		}
		n += len(des)
	}
	return n, nil
}

func printTable(rows []result, count int, octets int64) {
	rawRate := map[string]float64{}
	for _, r := range rows {
		if r.peer == "raw" && len(r.times) > 0 {
			rawRate[r.mode] = 1 / median(r.times).Seconds()
		}
	}
	fmt.Println()
	fmt.Println("| mode | peer | median s | min–max s | msg/s | MB/s | of raw | CPU s | Dovecot CPU s | notes |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		if len(r.times) == 0 {
			fmt.Printf("| %s | %s | FAIL | | | | | | | %s |\n", r.mode, r.peer, r.note)
			continue
		}
		m := median(r.times).Seconds()
		share := "–"
		if raw := rawRate[r.mode]; raw > 0 && r.peer != "raw" {
			share = fmt.Sprintf("%.0f%%", 100/m/raw)
		}
		fmt.Printf("| %s | %s | %.3f | %.3f–%.3f | %.0f | %.1f | %s | %.3f | %.2f | %s |\n", r.mode, r.peer, m,
			slices.Min(r.times).Seconds(), slices.Max(r.times).Seconds(),
			float64(count)/m, float64(octets)/1e6/m, share, median(r.cpu).Seconds(), median(r.srv).Seconds(), r.note)
	}
}

func median(ts []time.Duration) time.Duration {
	s := slices.Clone(ts)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.Contains(l, "WARNING") {
			return name + " " + strings.TrimPrefix(strings.TrimPrefix(l, "This is fetchmail release "), name+" ")
		}
	}
	return name + " ?"
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// message builds a synthetic message of about size bytes with LF line
// endings, as a delivery agent stores it: a dot-led line in each, one
// 6,000-byte line in every 50th, and every third a multipart with a base64
// attachment making up most of its size.
func message(rng *rand.Rand, n, size int) []byte {
	var b bytes.Buffer
	date := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute).Format(time.RFC1123Z)
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.org>\n", n%97)
	fmt.Fprintf(&b, "Received: from mx%d.example.org (mx%d.example.org [192.0.2.%d])\n\tby mail.example.net with ESMTPS id %08X\n\tfor <bench@example.net>; %s\n", n%5, n%5, n%250+1, n, date)
	fmt.Fprintf(&b, "Message-ID: <bench-%d-%012x@example.org>\nDate: %s\n", n, rng.Uint64()>>16, date)
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\nTo: Bench <bench@example.net>\n", n%97, n%97)
	fmt.Fprintf(&b, "Subject: [bench] message %d\nMIME-Version: 1.0\nX-Bench-Seq: %d\n", n, n)
	text := func(target int) {
		line := 0
		for b.Len() < target {
			w := words[rng.IntN(len(words))]
			b.WriteString(w)
			if line += len(w) + 1; line > 70 {
				b.WriteByte('\n')
				line = 0
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	marker := fmt.Sprintf(".dot-line-marker %d\n", n)
	long := ""
	if n%50 == 0 {
		long = "<p>" + strings.Repeat("x", 5990) + "</p>\n"
	}
	if n%3 != 0 {
		b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n")
		b.WriteString(marker + long)
		text(size)
		return b.Bytes()
	}
	boundary := fmt.Sprintf("b%06d%08x", n, rng.Uint32())
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\n\nThis is a multi-part message in MIME format.\n\n--%s\n", boundary, boundary)
	b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n")
	text(b.Len() + 400)
	b.WriteString(marker + long)
	fmt.Fprintf(&b, "\n--%s\nContent-Type: application/octet-stream; name=\"report-%d.bin\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"report-%d.bin\"\n\n", boundary, n, n)
	raw := make([]byte, max(0, size-b.Len()-100)*3/4)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64Lines(raw)
	b.Write(enc)
	fmt.Fprintf(&b, "--%s--\n", boundary)
	return b.Bytes()
}

var words = strings.Fields(`invoice meeting quarterly report attached please review the draft
contract budget shipment delayed customer escalation regards thanks schedule update
security alert password reset newsletter offer`)

// base64Lines encodes in 76-character lines, as MIME has it.
func base64Lines(raw []byte) []byte {
	var out bytes.Buffer
	for len(raw) > 0 {
		n := min(57, len(raw))
		out.WriteString(base64.StdEncoding.EncodeToString(raw[:n]))
		out.WriteByte('\n')
		raw = raw[n:]
	}
	return out.Bytes()
}
