package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/report"
)

// execute runs the command line as main does and returns its exit code,
// standard output and standard error.
func execute(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := exitOK
	if err := root.ExecuteContext(ctx); err != nil {
		code = exitFailure
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			err = ee.err
		}
		if err != nil {
			errb.WriteString("mailsift: " + err.Error() + "\n")
		}
	}
	return code, out.String(), errb.String()
}

const samples = "../../examples/mail"

func sampleCount(t *testing.T) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil || len(m) < 20 {
		t.Fatalf("samples: %d files, %v", len(m), err)
	}
	return len(m)
}

// scanJSON scans the samples and returns the reports by file base name.
func scanJSON(t *testing.T, args ...string) (int, map[string]report.Report) {
	t.Helper()
	code, out, errOut := execute(t, "", append([]string{"scan", "--json"}, args...)...)
	reports := map[string]report.Report{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r report.Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("scan --json line is not a report: %v\n%s", err, sc.Text())
		}
		reports[filepath.Base(r.File)] = r
	}
	if code != exitOK && code != exitMalicious {
		t.Fatalf("scan exit %d, stderr: %s", code, errOut)
	}
	return code, reports
}

func TestDemoReportsEverySampleLikeScan(t *testing.T) {
	n := sampleCount(t)
	code, out, errOut := execute(t, "", "demo")
	if code != exitOK {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rows []string
	for _, l := range lines {
		for _, v := range []string{" clean ", " suspicious ", " malicious ", " unknown "} {
			if strings.Contains(l, v) && !strings.HasPrefix(l, "SUBJECT") {
				rows = append(rows, l)
				break
			}
		}
	}
	if len(rows) != n {
		t.Fatalf("demo printed %d report rows, want %d\n%s", len(rows), n, out)
	}
	if !strings.Contains(out, "messages reported in") {
		t.Errorf("no summary line:\n%s", out)
	}

	// scan over the same files reaches the same verdicts: count them.
	_, reports := scanJSON(t, samples)
	if len(reports) != n {
		t.Fatalf("scan gave %d reports, want %d", len(reports), n)
	}
	counts := map[analyzers.Verdict]int{}
	for _, r := range reports {
		counts[r.Verdict]++
	}
	for v, c := range counts {
		if got := strings.Count(out, " "+string(v)+" "); got != c {
			t.Errorf("verdict %s: demo shows %d, scan %d", v, got, c)
		}
	}
}

func TestScanVerdicts(t *testing.T) {
	code, reports := scanJSON(t, samples)
	if code != exitMalicious {
		t.Errorf("scan of samples with EICAR exit %d, want %d", code, exitMalicious)
	}
	eicar, ok := reports["23-eicar-test-attachment.eml"]
	if !ok || eicar.Verdict != analyzers.VerdictMalicious {
		t.Fatalf("EICAR sample: %+v", eicar)
	}
	var ioc bool
	for _, res := range eicar.Results {
		for _, s := range res.Symbols {
			ioc = ioc || s.Name == "ATTACHMENT_IOC"
		}
	}
	if !ioc {
		t.Errorf("EICAR sample has no ATTACHMENT_IOC symbol: %+v", eicar.Results)
	}
	// The malformed sample is reported, with an error result naming the part.
	bad, ok := reports["24-malformed-broken-base64.eml"]
	if !ok {
		t.Fatal("malformed sample has no report")
	}
	var named bool
	for _, res := range bad.Results {
		if res.Status == analyzers.StatusError && strings.Contains(res.Error, "part ") {
			named = true
		}
	}
	if !named || bad.Verdict == analyzers.VerdictClean {
		t.Errorf("malformed sample: verdict %s, results %+v", bad.Verdict, bad.Results)
	}
	if r := reports["05-happy-thank-you.eml"]; r.Verdict != analyzers.VerdictClean {
		t.Errorf("happy customer mail: verdict %s, results %+v", r.Verdict, r.Results)
	}
}

func TestScanBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.eml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notMail := filepath.Join(dir, "notmail")
	if err := os.MkdirAll(notMail, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.txt", "b.png"} {
		if err := os.WriteFile(filepath.Join(notMail, name), []byte("\x89PNG\r\n\x1a\nnot mail"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	png := filepath.Join(dir, "image.eml")
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty file", []string{empty}, "empty.eml: empty file"},
		{"directory without mail", []string{notMail}, "no .eml files"},
		{"missing path", []string{filepath.Join(dir, "nope.eml")}, "nope.eml: no such file or directory"},
		{"not an email", []string{png}, "image.eml: not an email message"},
		{"unknown analyzer", []string{"--analyzers", "nosuch", empty}, `analyzer "nosuch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := execute(t, "", append([]string{"scan"}, tt.args...)...)
			if code != exitFailure {
				t.Errorf("exit %d, want 1", code)
			}
			first, _, _ := strings.Cut(errOut, "\n")
			if !strings.Contains(first, tt.want) {
				t.Errorf("stderr %q, want first line containing %q", errOut, tt.want)
			}
		})
	}
}

func TestScanStdin(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(samples, "05-happy-thank-you.eml"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := execute(t, string(raw), "scan", "--json", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Schema != report.Schema || r.Subject == "" {
		t.Fatalf("report %+v, %v", r, err)
	}
}

func TestRunOnceNeedsMailboxes(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mailsift.yaml")
	if err := os.WriteFile(cfg, []byte("nats:\n  store_dir: "+t.TempDir()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := execute(t, "", "run", "-c", cfg, "--once")
	if code != exitFailure || !strings.Contains(errOut, "no mailboxes configured") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := execute(t, "", "version")
	if code != exitOK || !strings.HasPrefix(out, "mailsift ") || !strings.Contains(out, "go1.") {
		t.Fatalf("exit %d, %q", code, out)
	}
}

func TestTailFollowsReports(t *testing.T) {
	ctx := context.Background()
	cfg := pipeline.Defaults()
	cfg.StoreDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	conn, err := pipeline.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Setup(ctx, nil, pipeline.DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"clean", "malicious", "clean"} {
		b, _ := json.Marshal(report.Report{Schema: report.Schema, ID: fmt.Sprint(i), Verdict: analyzers.Verdict(v), Subject: "s" + fmt.Sprint(i)})
		if _, err := conn.JS.Publish(ctx, pipeline.SubjectReportPrefix+v, b); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "tail.yaml")
	if err := os.WriteFile(path, []byte("nats:\n  url: "+conn.ClientURL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := execute(t, "", "tail", "-c", path, "--all", "--json", "--count", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], `"id":"1"`) {
		t.Fatalf("tail printed %q", out)
	}
	code, out, _ = execute(t, "", "tail", "-c", path, "--all", "--verdict", "malicious", "-n", "1")
	if code != exitOK || !strings.Contains(out, "s1") || strings.Contains(out, "s0") {
		t.Fatalf("tail --verdict malicious printed %q", out)
	}
}

// serveSamples copies the samples, plus extra files (name to content), into
// a folder under dir served by a POP3 server on loopback, and returns the
// folder, the number of messages and the config of an embedded NATS and a
// mailbox "support" reading it (delete: never), for the test to extend.
func serveSamples(t *testing.T, dir string, extra map[string]string) (string, int, string) {
	t.Helper()
	mailDir := filepath.Join(dir, "mail")
	n, err := copyEML(os.DirFS(samples), ".", mailDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(mailDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		n++
	}
	srv := &pop3.Server{Backend: pop3.NewDirBackend(mailDir), Users: map[string]string{"ops": "pw"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	t.Setenv("TEST_RUN_PW", "pw")
	cfg := fmt.Sprintf(`nats:
  store_dir: %s
mailboxes:
  - name: support
    host: 127.0.0.1
    port: %d
    tls: none
    username: ops
    password_env: TEST_RUN_PW
    delete: never
log:
  level: warn
`, filepath.Join(dir, "nats"), ln.Addr().(*net.TCPAddr).Port)
	return mailDir, n, cfg
}

func TestRunOnceWritesEveryReportToJSONL(t *testing.T) {
	dir := t.TempDir()
	mailDir, n, cfg := serveSamples(t, dir, nil)
	jsonl := filepath.Join(dir, "reports.jsonl")
	cfg += "outputs:\n  - {type: jsonl, path: " + jsonl + "}\n"
	path := filepath.Join(dir, "mailsift.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		code, _, errOut := execute(t, "", "run", "-c", path, "--once")
		if code != exitOK {
			t.Fatalf("round %d: exit %d: %s", round, code, errOut)
		}
		b, err := os.ReadFile(jsonl)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r report.Report
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("round %d: bad line: %v", round, err)
			}
			if ids[r.ID] {
				t.Errorf("round %d: report %s twice", round, r.ID)
			}
			ids[r.ID] = true
		}
		// delete: never, so the second run finds nothing new and adds nothing.
		if len(ids) != n {
			t.Fatalf("round %d: %d reports in JSONL, want %d", round, len(ids), n)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(mailDir, "*.eml")); len(left) != n {
		t.Errorf("delete: never, but %d of %d messages left on the server", len(left), n)
	}
}

// TestEveryCommandHasAnExample walks the command tree: `--help` of each
// command must show at least one example.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Example == "" {
			t.Errorf("mailsift %s: no example in --help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}
