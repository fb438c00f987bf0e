package clamav

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
	"github.com/mailsift/mailsift/analyzers/clamav/clamdtest"
)

// daemon is the real clamd every test here talks to, started once.
var daemon *clamdtest.Daemon

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemon, err = clamdtest.New(dir, clamdtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "clamav tests:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	daemon.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

type entry = archivetest.Entry

func part(path, name, contentType string, content []byte) analyzers.Part {
	sum := sha256.Sum256(content)
	return analyzers.Part{Path: path, Filename: name, ContentType: contentType, Attachment: true,
		Content: content, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}
}

func message(parts ...analyzers.Part) *analyzers.Message {
	body := analyzers.Part{Path: "1", ContentType: "text/plain", Content: []byte("hello")}
	m := &analyzers.Message{Raw: []byte("Subject: x\r\n\r\nhello"), Parts: append([]analyzers.Part{body}, parts...)}
	for i := range m.Parts {
		if m.Parts[i].Attachment {
			m.Attachments = append(m.Attachments, &m.Parts[i])
		}
	}
	return m
}

func newAnalyzer(t *testing.T, edit func(*Config)) *Analyzer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Address = "unix://" + daemon.Socket
	cfg.Timeout = 10 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func data(t *testing.T, r analyzers.Result) Data {
	t.Helper()
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	return d
}

func options(r analyzers.Result) []string {
	for _, s := range r.Symbols {
		if s.Name == VirusFound {
			return s.Options
		}
	}
	return nil
}

// Signatures from a database clamd cannot verify (ours, made with sigtool)
// get ".UNOFFICIAL" appended to their names; ClamAV's own do not.

func TestTransports(t *testing.T) {
	for _, addr := range []string{"unix://" + daemon.Socket, daemon.Socket, "tcp://" + daemon.TCP, daemon.TCP} {
		t.Run(addr, func(t *testing.T) {
			a := newAnalyzer(t, func(c *Config) { c.Address = addr })
			if err := a.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			r, err := analyzers.Run(context.Background(), a, message(part("2", "eicar.com", "application/octet-stream", archivetest.EICAR())))
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != analyzers.VerdictMalicious || !slices.Equal(options(r), []string{"part 2 eicar.com: Eicar-Test-Signature.UNOFFICIAL"}) {
				t.Errorf("verdict %s symbols %+v", r.Verdict, r.Symbols)
			}
		})
	}
}

func TestAnalyze(t *testing.T) {
	e := archivetest.EICAR()
	zip := archivetest.Zip(entry{Name: "notes.txt", Content: []byte("notes")}, entry{Name: "eicar.txt", Content: e})
	big := make([]byte, 1024)
	tests := []struct {
		name     string
		edit     func(*Config)
		m        *analyzers.Message
		status   analyzers.Status
		verdict  analyzers.Verdict
		options  []string
		scanned  int
		skipped  int
		errorHas string
	}{
		{
			name: "no attachments", m: message(),
			status: analyzers.StatusOK, verdict: analyzers.VerdictClean,
		},
		{
			name: "clean files", m: message(part("2", "a.pdf", "application/pdf", []byte("%PDF-1.4\n%%EOF\n")), part("3", "b.txt", "text/plain", []byte("hi"))),
			status: analyzers.StatusOK, verdict: analyzers.VerdictClean, scanned: 2,
		},
		{
			name: "eicar under a harmless name", m: message(part("2", "readme.txt", "text/plain", e)),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 1,
			options: []string{"part 2 readme.txt: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "eicar in a zip: clamd opens the zip, and the file is scanned on its own", m: message(part("2", "docs.zip", "application/zip", zip)),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 3,
			options: []string{"part 2 docs.zip: Eicar-Test-Signature.UNOFFICIAL", "part 2 docs.zip!/eicar.txt: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "archive members off", edit: func(c *Config) { c.ArchiveMembers = false }, m: message(part("2", "docs.zip", "application/zip", zip)),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 1,
			options: []string{"part 2 docs.zip: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "eicar deeper than clamd's default recursion is found as a member", m: message(part("2", "deep.zip", "application/zip", archivetest.Nested(4, "eicar.com", e))),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 2,
			options: []string{"part 2 deep.zip: Eicar-Test-Signature.UNOFFICIAL", "part 2 deep.zip!/level-3.zip!/level-2.zip!/level-1.zip!/eicar.com: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "same content twice is scanned once", m: message(part("2", "a.com", "application/octet-stream", e), part("3", "b.com", "application/octet-stream", e)),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 1,
			options: []string{"part 2 a.com: Eicar-Test-Signature.UNOFFICIAL", "part 3 b.com: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "body only reaches clamd with scan_message", m: &analyzers.Message{Raw: []byte("Subject: x\r\n\r\n" + clamdtest.Marker + "\r\n")},
			status: analyzers.StatusOK, verdict: analyzers.VerdictClean,
		},
		{
			name: "scan_message", edit: func(c *Config) { c.ScanMessage = true }, m: &analyzers.Message{Raw: []byte("Subject: x\r\n\r\n" + clamdtest.Marker + "\r\n")},
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 1,
			options: []string{"part message whole message: Mailsift.Test.CorpusMarker.UNOFFICIAL"},
		},
		{
			name: "a part over max_size is skipped, not clean", edit: func(c *Config) { c.MaxSize = 100 },
			m:      message(part("2", "big.bin", "application/octet-stream", big), part("3", "small.txt", "text/plain", []byte("hi"))),
			status: analyzers.StatusSkipped, verdict: analyzers.VerdictUnknown, scanned: 1, skipped: 1,
			errorHas: "not scanned: part 2 big.bin: 1024 bytes, over max_size 100",
		},
		{
			name: "a detection outweighs a skipped part", edit: func(c *Config) { c.MaxSize = 100 },
			m:      message(part("2", "big.bin", "application/octet-stream", big), part("3", "eicar.com", "application/octet-stream", e)),
			status: analyzers.StatusOK, verdict: analyzers.VerdictMalicious, scanned: 1, skipped: 1,
			options: []string{"part 3 eicar.com: Eicar-Test-Signature.UNOFFICIAL"},
		},
		{
			name: "a part the parser truncated is skipped", m: func() *analyzers.Message {
				p := part("2", "huge.iso", "application/octet-stream", []byte("start"))
				p.Truncated, p.Size = true, 60<<20
				return message(p)
			}(),
			status: analyzers.StatusSkipped, verdict: analyzers.VerdictUnknown, skipped: 1,
			errorHas: "huge.iso",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzer(t, tt.edit)
			r, err := analyzers.Run(context.Background(), a, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			d := data(t, r)
			if r.Status != tt.status || r.Verdict != tt.verdict {
				t.Errorf("status %s verdict %s (error %q), want %s %s", r.Status, r.Verdict, r.Error, tt.status, tt.verdict)
			}
			if !slices.Equal(options(r), tt.options) {
				t.Errorf("VIRUS_FOUND options:\n got %q\nwant %q", options(r), tt.options)
			}
			if d.Scanned != tt.scanned || len(d.Skipped) != tt.skipped {
				t.Errorf("scanned %d skipped %+v, want %d and %d", d.Scanned, d.Skipped, tt.scanned, tt.skipped)
			}
			if !strings.Contains(r.Error, tt.errorHas) {
				t.Errorf("error %q, want it to say %q", r.Error, tt.errorHas)
			}
			if tt.verdict == analyzers.VerdictMalicious && (len(d.Detections) == 0 || d.Detections[0].SHA256 == "") {
				t.Errorf("detections %+v", d.Detections)
			}
		})
	}
}

// TestParsedMessages runs over messages as Parse builds them, attached
// messages included.
func TestParsedMessages(t *testing.T) {
	a := newAnalyzer(t, nil)
	zip := archivetest.Zip(entry{Name: "eicar.com", Content: archivetest.EICAR()})
	inner := "From: a@x.example\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nsee zip\r\n--in\r\n" +
		"Content-Type: application/zip; name=trip.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(zip) + "\r\n--in--\r\n"
	outer := "From: b@y.example\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: text/plain\r\n\r\nfwd\r\n--out\r\n" +
		"Content-Type: message/rfc822\r\n\r\n" + inner + "\r\n--out--\r\n"
	m, err := analyzers.Parse([]byte(outer), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyzers.Run(context.Background(), a, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"part 2.2 trip.zip: Eicar-Test-Signature.UNOFFICIAL", "part 2.2 trip.zip!/eicar.com: Eicar-Test-Signature.UNOFFICIAL"}
	if r.Verdict != analyzers.VerdictMalicious || !slices.Equal(options(r), want) {
		t.Errorf("verdict %s options %q, want malicious %q", r.Verdict, options(r), want)
	}
}

func b64(b []byte) string {
	return strings.TrimSpace(encodeBase64(b))
}

// TestClamAVTestFiles sends Debian's clamav-testfiles, ClamAV's own
// harmless test files in many containers, and expects clamd to find the
// test program inside each.
func TestClamAVTestFiles(t *testing.T) {
	files := []string{"clam.exe", "clam.zip", "clam.7z", "clam.tar.gz", "clam.cab", "clam.arj", "clam.exe.bz2", "clam.impl.zip", "clam.bz2.zip", "clam.exe.mbox.base64", "clam.ole.doc"}
	a := newAnalyzer(t, nil)
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(clamdtest.TestFiles, name))
			if err != nil {
				t.Fatalf("%v: install Debian's clamav-testfiles (scripts/install-test-deps.sh)", err)
			}
			r, err := analyzers.Run(context.Background(), a, message(part("2", name, "application/octet-stream", b)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != analyzers.VerdictMalicious || !strings.Contains(strings.Join(options(r), ","), "ClamAV-Test-File") {
				t.Errorf("verdict %s symbols %+v, want ClamAV-Test-File found", r.Verdict, r.Symbols)
			}
		})
	}
}

// TestStreamLimit runs a clamd whose StreamMaxLength is below max_size:
// clamd refuses the stream, and the file is skipped with clamd's reason.
func TestStreamLimit(t *testing.T) {
	small := clamdtest.Start(t, clamdtest.Options{StreamMaxLength: "1K"})
	a := newAnalyzer(t, func(c *Config) { c.Address = small.Socket })
	r, err := analyzers.Run(context.Background(), a, message(part("2", "big.bin", "application/octet-stream", make([]byte, 256<<10))))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != analyzers.StatusSkipped || r.Verdict != analyzers.VerdictUnknown || !strings.Contains(r.Error, "StreamMaxLength") {
		t.Errorf("status %s verdict %s error %q, want skipped naming StreamMaxLength", r.Status, r.Verdict, r.Error)
	}
}

// fakeClamd is a listener that plays a broken clamd: handle gets each
// connection.
func fakeClamd(t *testing.T, handle func(n int, c net.Conn)) (addr string, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1))
			go func() {
				defer c.Close()
				handle(n, c)
			}()
		}
	}()
	return "tcp://" + l.Addr().String(), accepted
}

// readCommand reads the INSTREAM command and its chunks up to the end
// marker, as clamd does before answering.
func readCommand(c net.Conn) {
	r := bufio.NewReader(c)
	if _, err := r.ReadString(0); err != nil {
		return
	}
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		n := int(size[0])<<24 | int(size[1])<<16 | int(size[2])<<8 | int(size[3])
		if n == 0 {
			return
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return
		}
	}
}

func TestFaults(t *testing.T) {
	eicarMsg := message(part("2", "eicar.com", "application/octet-stream", archivetest.EICAR()))
	hang, hung := fakeClamd(t, func(_ int, c net.Conn) {
		readCommand(c)
		time.Sleep(5 * time.Second)
	})
	garbage, _ := fakeClamd(t, func(_ int, c net.Conn) {
		readCommand(c)
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
	})
	dropping, dropped := fakeClamd(t, func(int, net.Conn) {})
	erroring, errored := fakeClamd(t, func(_ int, c net.Conn) {
		readCommand(c)
		io.WriteString(c, "stream: Can't allocate memory ERROR\x00")
	})
	// Drops the first connection, then passes the rest to the real clamd:
	// a retry must get through.
	flaky, _ := fakeClamd(t, func(n int, c net.Conn) {
		if n == 1 {
			return
		}
		up, err := net.Dial("unix", daemon.Socket)
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(up, c)
		io.Copy(c, up)
	})

	tests := []struct {
		name     string
		address  string
		timeout  time.Duration
		wantErr  string
		attempts *atomic.Int32
		want     int32
	}{
		{name: "clamd down (no socket)", address: "unix://" + filepath.Join(t.TempDir(), "none.sock"), wantErr: "connecting to clamd"},
		{name: "clamd down (port closed)", address: "tcp://127.0.0.1:1", wantErr: "connecting to clamd"},
		{name: "no answer within the timeout", address: hang, timeout: 300 * time.Millisecond, wantErr: "no answer within 300ms", attempts: hung, want: 1},
		{name: "not clamd", address: garbage, wantErr: "unexpected reply"},
		{name: "connection dropped every time", address: dropping, wantErr: "clamd at tcp://", attempts: dropped, want: 3},
		{name: "clamd error is not retried", address: erroring, wantErr: "Can't allocate memory", attempts: errored, want: 1},
		{name: "dropped once, then answered", address: flaky},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzer(t, func(c *Config) {
				c.Address = tt.address
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			start := time.Now()
			_, err := a.Analyze(context.Background(), eicarMsg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err %v, want the retry to succeed", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "eicar.com") {
				t.Errorf("err %v does not name the file", err)
			}
			if tt.attempts != nil && tt.attempts.Load() != tt.want {
				t.Errorf("%d connections, want %d", tt.attempts.Load(), tt.want)
			}
			if tt.timeout > 0 && time.Since(start) > 10*tt.timeout {
				t.Errorf("took %v with a timeout of %v", time.Since(start), tt.timeout)
			}
			// What a report shows for it: an error, never clean.
			res := analyzers.RunAll(context.Background(), []analyzers.Analyzer{a}, eicarMsg, 10*time.Second)[0]
			if res.Status != analyzers.StatusError || res.Verdict != analyzers.VerdictUnknown || res.Error == "" {
				t.Errorf("RunAll gave %s/%s %q, want error/unknown", res.Status, res.Verdict, res.Error)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	hang, _ := fakeClamd(t, func(_ int, c net.Conn) {
		readCommand(c)
		time.Sleep(5 * time.Second)
	})
	a := newAnalyzer(t, func(c *Config) { c.Address = hang })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := a.Analyze(ctx, message(part("2", "a.bin", "application/octet-stream", []byte("x"))))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		reply, sig, err string
	}{
		{"stream: OK", "", ""},
		{"stream: Eicar-Test-Signature FOUND", "Eicar-Test-Signature", ""},
		{"stream: Win.Test.EICAR_HDB-1 FOUND\n", "Win.Test.EICAR_HDB-1", ""},
		{"INSTREAM size limit exceeded. ERROR", "", "StreamMaxLength"},
		{"stream: Can't allocate memory ERROR", "", "Can't allocate memory"},
		{"UNKNOWN COMMAND", "", "unexpected reply"},
		{"", "", "unexpected reply"},
	}
	for _, tt := range tests {
		sig, err := parseReply(tt.reply)
		if sig != tt.sig || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("parseReply(%q) = %q, %v; want %q and an error with %q", tt.reply, sig, err, tt.sig, tt.err)
		}
	}
}

func TestConfig(t *testing.T) {
	bad := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"address without port", func(c *Config) { c.Address = "clamd.example" }, "tcp://host:port"},
		{"empty unix path", func(c *Config) { c.Address = "unix://" }, "unix:///"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "retries"},
		{"zero max_size", func(c *Config) { c.MaxSize = 0 }, "max_size"},
		{"unknown symbol", func(c *Config) { c.Scores = map[string]float64{"NOPE": 1} }, "NOPE"},
	}
	for _, tt := range bad {
		cfg := DefaultConfig()
		tt.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one with %q", tt.name, err, tt.want)
		}
	}
	reg, ok := analyzers.Lookup(Name)
	if !ok || !reg.Security || !reg.Network {
		t.Errorf("registration %+v: want security and network", reg)
	}
	a, err := analyzers.New(Name, analyzers.NoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(*Analyzer); got.network != "unix" || got.addr != "/run/clamav/clamd.ctl" {
		t.Errorf("default address %s %s", got.network, got.addr)
	}
	cfg := DefaultConfig()
	cfg.Scores = map[string]float64{VirusFound: 7}
	cfg.Address = daemon.Socket
	a2, _ := New(cfg)
	r, _ := a2.Analyze(context.Background(), message(part("2", "e.com", "application/octet-stream", archivetest.EICAR())))
	if r.Score != 7 || r.Verdict != analyzers.VerdictMalicious {
		t.Errorf("score %v verdict %s with VIRUS_FOUND at 7; a detection is malicious whatever its score", r.Score, r.Verdict)
	}
}

// TestCorpus checks the clamav column of the labeled corpus.
func TestCorpus(t *testing.T) {
	dir := "../attachments/testdata/corpus"
	want := readExpected(t, filepath.Join(dir, "expected.tsv"), Name)
	a := newAnalyzer(t, nil)
	for name, verdict := range want {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := analyzers.Run(context.Background(), a, m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Verdict != verdict {
			t.Errorf("%s: verdict %s (%s, symbols %v), want %s", name, r.Verdict, r.Error, r.Symbols, verdict)
		}
	}
}

func readExpected(t *testing.T, path, column string) map[string]analyzers.Verdict {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	header := strings.Split(strings.TrimPrefix(lines[0], "# "), "\t")
	col := slices.Index(header, column)
	if col < 0 {
		t.Fatalf("%s: no column %s", path, column)
	}
	out := map[string]analyzers.Verdict{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		out[f[0]] = analyzers.Verdict(f[col])
	}
	return out
}

func encodeBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}
