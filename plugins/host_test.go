package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/examples/plugins/rules"
)

// Executables built once for all tests.
var bin struct {
	rules, fault string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailsift-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.rules = filepath.Join(dir, "mailsift-rules")
	bin.fault = filepath.Join(dir, "faultplugin")
	for out, pkg := range map[string]string{bin.rules: "../examples/plugins/rules/cmd/mailsift-rules", bin.fault: "./testdata/faultplugin"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const samples = "../examples/mail"

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startPlugin starts a plugin and stops it when the test ends.
func startPlugin(t *testing.T, cfg Config) *Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// faultConfig runs the fault plugin with its notes in a fresh directory.
func faultConfig(t *testing.T, env map[string]string) (Config, string) {
	dir := t.TempDir()
	e := map[string]string{"FAULT_DIR": dir}
	for k, v := range env {
		e[k] = v
	}
	return Config{Name: "fault", Command: bin.fault, Env: e}, dir
}

func message(t testing.TB, subject string) *analyzers.Message {
	t.Helper()
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sample(t testing.TB, name string) *analyzers.Message {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run runs a as `mailsift scan` does: one attempt, any failure a result.
func run(t testing.TB, a analyzers.Analyzer, m *analyzers.Message, timeout time.Duration) analyzers.Result {
	t.Helper()
	return analyzers.RunAll(context.Background(), []analyzers.Analyzer{a}, m, timeout)[0]
}

// pidOf reads the process id the fault plugin puts in its data.
func pidOf(t testing.TB, r analyzers.Result) int {
	t.Helper()
	var d struct {
		PID int `json:"pid"`
	}
	if r.Status != analyzers.StatusOK || json.Unmarshal(r.Data, &d) != nil || d.PID == 0 {
		t.Fatalf("not a good answer of the fault plugin: %+v", r)
	}
	return d.PID
}

func starts(t testing.TB, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "started.*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestRulesPluginMatchesBuiltin runs the rules example as a plugin and as a
// built-in analyzer over every sample: the answers must be the same.
func TestRulesPluginMatchesBuiltin(t *testing.T) {
	rulesFile, err := filepath.Abs("../examples/plugins/rules/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := startPlugin(t, Config{Name: "team-rules", Command: bin.rules, Args: []string{"-rules", rulesFile}})
	d := p.Description()
	if d.Name != "rules" || d.Version != rules.Version || d.Needs != InputParsed || d.Protocol != 1 || d.Security || p.Security() {
		t.Errorf("description %+v, security %v", d, p.Security())
	}
	if p.Name() != "team-rules" || p.Timeout() != DefaultTimeout {
		t.Errorf("name %s timeout %s", p.Name(), p.Timeout())
	}
	builtin, err := rules.Load(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(samples, "*.eml"))
	if len(files) < 30 {
		t.Fatalf("%d samples", len(files))
	}
	matched := 0
	for _, f := range files {
		m := sample(t, filepath.Base(f))
		got := run(t, p, m, 10*time.Second)
		want := run(t, builtin, m, 10*time.Second)
		want.Analyzer = "team-rules"
		got.DurationMS, want.DurationMS = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nplugin   %+v\nbuilt in %+v", filepath.Base(f), got, want)
		}
		if len(got.Symbols) > 0 {
			matched++
		}
	}
	if matched < 5 {
		t.Errorf("only %d samples matched a rule", matched)
	}
}

func TestSIGKILLMidCall(t *testing.T) {
	cfg, dir := faultConfig(t, nil)
	p := startPlugin(t, cfg)
	first := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))

	done := make(chan analyzers.Result, 1)
	go func() { done <- run(t, p, message(t, "slow"), 30*time.Second) }()
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin never started the slow call")
		}
		if b, err := os.ReadFile(filepath.Join(dir, "inflight")); err == nil {
			pid, _ = strconv.Atoi(string(b))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pid != first {
		t.Fatalf("in-flight pid %d, first answer from %d", pid, first)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Status != analyzers.StatusError || res.Verdict != analyzers.VerdictUnknown || !strings.Contains(res.Error, "during the call; restarting it") {
		t.Fatalf("killed call: %+v", res)
	}

	// The next message is fine, from a new process.
	next := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	if next == first {
		t.Errorf("answer from the killed process %d", first)
	}
	if n := starts(t, dir); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
}

func TestPluginExitsMidCall(t *testing.T) {
	cfg, dir := faultConfig(t, nil)
	p := startPlugin(t, cfg)
	res := run(t, p, message(t, "exit"), 10*time.Second)
	if res.Status != analyzers.StatusError || !strings.Contains(res.Error, "during the call") {
		t.Fatalf("exit mid-call: %+v", res)
	}
	// The pipeline retries such an error; Analyze returns it as one.
	if _, err := p.Analyze(context.Background(), message(t, "exit")); err == nil {
		t.Error("Analyze of a call that crashed the plugin returned no error")
	}
	pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	if n := starts(t, dir); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
}

func TestHungCallTimesOut(t *testing.T) {
	cfg, dir := faultConfig(t, nil)
	cfg.Timeout = 300 * time.Millisecond
	p := startPlugin(t, cfg)
	first := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))

	start := time.Now()
	res := run(t, p, message(t, "hang"), 10*time.Second)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("hung call took %s with a 300ms timeout", took)
	}
	if res.Status != analyzers.StatusError || !strings.Contains(res.Error, "no answer within 300ms") {
		t.Fatalf("hung call: %+v", res)
	}
	// A plugin that still answers its health check keeps running.
	time.Sleep(2 * pingTimeout)
	if pid := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second)); pid != first {
		t.Errorf("healthy plugin was restarted: pid %d, was %d", pid, first)
	}
	// One wedged on every call is restarted.
	for range maxTimeouts {
		if res := run(t, p, message(t, "hang"), 10*time.Second); res.Status != analyzers.StatusError {
			t.Fatalf("hung call: %+v", res)
		}
	}
	if pid := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second)); pid == first {
		t.Errorf("plugin hung %d times in a row was not restarted", maxTimeouts)
	}
	if n := starts(t, dir); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
	if alive(first) {
		t.Errorf("the hung process %d is still running", first)
	}
}

func TestGarbageIsAnErrorResult(t *testing.T) {
	cfg, dir := faultConfig(t, nil)
	p := startPlugin(t, cfg)
	first := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	tests := []struct {
		subject string
		want    string
		// wellFormed: the plugin itself answered with an error result.
		wellFormed bool
	}{
		{"garbage-status", "unknown status 99", false},
		{"garbage-data", "data is not JSON", false},
		{"garbage-nan", "is not a number", false},
		{"garbage-clean-error", "status error with verdict clean", false},
		{"panic", "analyzer panicked: boom", true},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			res, err := p.Analyze(context.Background(), message(t, tt.subject))
			if err != nil {
				t.Fatalf("Analyze returned error %v; garbage is a result, since asking again gives the same", err)
			}
			if res.Status != analyzers.StatusError || res.Verdict != analyzers.VerdictUnknown || !strings.Contains(res.Error, tt.want) {
				t.Errorf("result %+v, want an error result with %q", res, tt.want)
			}
			if _, err := p.Call(context.Background(), message(t, tt.subject)); (err == nil) != tt.wellFormed {
				t.Errorf("Call error %v", err)
			}
		})
	}
	if pid := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second)); pid != first || starts(t, dir) != 1 {
		t.Errorf("a plugin that answered garbage was restarted")
	}
}

func TestRetryIsAnError(t *testing.T) {
	cfg, _ := faultConfig(t, nil)
	p := startPlugin(t, cfg)
	_, err := p.Analyze(context.Background(), message(t, "retry"))
	if err == nil || !strings.Contains(err.Error(), "backend unreachable") {
		t.Fatalf("err = %v, want the plugin's reason", err)
	}
}

func TestChecksum(t *testing.T) {
	b, err := os.ReadFile(bin.fault)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])

	cfg, dir := faultConfig(t, nil)
	cfg.SHA256 = strings.Repeat("ab", 32)
	_, err = Start(context.Background(), cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "its sha256 is "+good) {
		t.Fatalf("err = %v, want a refusal naming the real sha256", err)
	}
	if n := starts(t, dir); n != 0 {
		t.Fatalf("the plugin ran %d times despite its checksum", n)
	}

	cfg.SHA256 = strings.ToUpper(good)
	p := startPlugin(t, cfg)
	pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
}

func TestProtocolVersionMismatch(t *testing.T) {
	cfg, _ := faultConfig(t, map[string]string{"FAULT_PROTOCOL": "2"})
	_, err := Start(context.Background(), cfg, testLogger(t))
	if err == nil {
		t.Fatal("a plugin speaking version 2 started")
	}
	msg := err.Error()
	for _, want := range []string{"plugin fault", "protocol version 2", "speaks version 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
}

func TestNotAPlugin(t *testing.T) {
	tests := []struct {
		handshake string
		want      []string
	}{
		{"garbage", []string{"not a mailsift plugin", "hello, I am not a plugin"}},
		{"exit", []string{"exited without printing its handshake line", "cannot read /etc/faultplugin.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.handshake, func(t *testing.T) {
			cfg, _ := faultConfig(t, map[string]string{"FAULT_HANDSHAKE": tt.handshake})
			_, err := Start(context.Background(), cfg, testLogger(t))
			if err == nil {
				t.Fatal("started")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	if _, err := Start(context.Background(), Config{Name: "x", Command: "/nonexistent/plugin"}, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing command: %v", err)
	}
}

// TestBackoff checks the restart delay grows, resets after a good answer,
// and that a caller who cannot wait for it is told so at once.
func TestBackoff(t *testing.T) {
	p := &Plugin{}
	var got []time.Duration
	for range 12 {
		p.noteFailure(errors.New("x"))
		got = append(got, time.Until(p.retryAt).Round(10*time.Millisecond))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000}
	for i := range want {
		if d := want[i] * time.Millisecond; got[i] != d {
			t.Errorf("failure %d: delay %s, want %s", i+1, got[i], d)
		}
	}

	cfg, dir := faultConfig(t, nil)
	pl := startPlugin(t, cfg)
	pidOf(t, run(t, pl, message(t, "hello"), 10*time.Second))
	run(t, pl, message(t, "exit"), 10*time.Second)
	run(t, pl, message(t, "exit"), 10*time.Second) // the second failure in a row: 200 ms
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := pl.Analyze(ctx, message(t, "hello"))
	if err == nil || !strings.Contains(err.Error(), "is down (2 failures in a row") {
		t.Fatalf("err = %v, want the plugin down with its failures", err)
	}
	pidOf(t, run(t, pl, message(t, "hello"), 10*time.Second))
	if n := starts(t, dir); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.failures != 0 {
		t.Errorf("failures %d after a good answer", pl.failures)
	}
}

func TestConcurrentCalls(t *testing.T) {
	cfg, _ := faultConfig(t, nil)
	cfg.MaxConcurrency = 2
	p := startPlugin(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := run(t, p, message(t, fmt.Sprintf("m%d", i)), 10*time.Second)
			if res.Status != analyzers.StatusOK || len(res.Symbols) != 1 || res.Symbols[0].Options[0] != fmt.Sprintf("m%d", i) {
				errs <- fmt.Sprintf("%d: %+v", i, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("MAILSIFT_TEST_SECRET", "hunter2")
	t.Setenv("MAILSIFT_TEST_SOURCE", "from-the-host")
	cfg, dir := faultConfig(t, map[string]string{"GREETING": "hi ${MAILSIFT_TEST_SOURCE}"})
	cfg.Args = []string{"-x"}
	p := startPlugin(t, cfg)
	pid := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(b), "\x00")
	has := func(s string) bool {
		for _, e := range env {
			if e == s || strings.HasPrefix(e, s) {
				return true
			}
		}
		return false
	}
	if !has("GREETING=hi from-the-host") || !has("FAULT_DIR="+dir) || !has("PATH=") {
		t.Errorf("plugin environment lacks what it was given: %q", env)
	}
	if has("MAILSIFT_TEST_SECRET=") {
		t.Errorf("plugin inherited mailsift's environment: %q", env)
	}
}

func TestStderrGoesToTheLog(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, _ := faultConfig(t, map[string]string{"FAULT_STDERR": "1"})
	p, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	type rec struct {
		Level, Msg, Plugin, K string
	}
	var recs []rec
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if r.Plugin != "fault" {
			t.Errorf("record without the plugin's name: %s", line)
		}
		recs = append(recs, r)
	}
	for _, want := range []rec{
		{"WARN", "42", "fault", "v"},
		{"WARN", "cache is cold", "fault", ""},
		{"INFO", "plain line from the plugin", "fault", ""},
	} {
		found := false
		for _, r := range recs {
			found = found || r == want
		}
		if !found {
			t.Errorf("no record %+v in\n%s", want, buf.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCloseStopsTheProcess(t *testing.T) {
	cfg, _ := faultConfig(t, nil)
	p := startPlugin(t, cfg)
	pid := pidOf(t, run(t, p, message(t, "hello"), 10*time.Second))
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := p.Analyze(context.Background(), message(t, "hello")); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Analyze after Close: %v", err)
	}
}

func TestSecurityFromDescribeOrConfig(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		describe string
		config   *bool
		want     bool
	}{
		{"0", nil, false},
		{"1", nil, true},
		{"1", &no, false},
		{"0", &yes, true},
	}
	for _, tt := range tests {
		cfg, _ := faultConfig(t, map[string]string{"FAULT_SECURITY": tt.describe})
		cfg.Security = tt.config
		p := startPlugin(t, cfg)
		if p.Security() != tt.want {
			t.Errorf("describe %s config %v: security %v", tt.describe, tt.config, p.Security())
		}
		p.Close()
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Name: "a_b-1", Command: "x"}, ""},
		{"no name", Config{Command: "x"}, `plugin name ""`},
		{"name with a dot", Config{Name: "a.b", Command: "x"}, `plugin name "a.b"`},
		{"no command", Config{Name: "a"}, "command is required"},
		{"short sha256", Config{Name: "a", Command: "x", SHA256: "abc"}, "64 hex digits"},
		{"negative timeout", Config{Name: "a", Command: "x", Timeout: -time.Second}, "negative"},
		{"negative concurrency", Config{Name: "a", Command: "x", MaxConcurrency: -1}, "negative"},
		{"env name with =", Config{Name: "a", Command: "x", Env: map[string]string{"A=B": "c"}}, "not a variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
