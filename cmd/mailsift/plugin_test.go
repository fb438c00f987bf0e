package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

// buildPlugins builds the rules example and the fault plugin into the
// test's temporary directory (the build cache makes the second test's
// build a link).
func buildPlugins(t *testing.T) (rules, fault string) {
	t.Helper()
	dir := t.TempDir()
	rules, fault = filepath.Join(dir, "mailsift-rules"), filepath.Join(dir, "faultplugin")
	for out, pkg := range map[string]string{
		rules: "../../examples/plugins/rules/cmd/mailsift-rules",
		fault: "../../plugins/testdata/faultplugin",
	} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	return rules, fault
}

// pythonPlugin is the Python example's path, after checking Debian's gRPC
// for /usr/bin/python3 is installed.
func pythonPlugin(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		t.Fatalf("/usr/bin/python3 cannot import grpc (%v: %s): apt-get install -y python3-grpcio python3-protobuf", err, out)
	}
	p, err := filepath.Abs("../../examples/plugins/python/links.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pluginsYAML configures the rules and Python examples, the fault plugin
// when faultDir is set.
func pluginsYAML(t *testing.T, faultDir string) string {
	rules, fault := buildPlugins(t)
	rulesFile, err := filepath.Abs("../../examples/plugins/rules/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`plugins:
  - name: team-rules
    command: %s
    args: [-rules, %s]
  - name: links
    command: %s
    auto_mtls: false
    env: {TMPDIR: %s}
`, rules, rulesFile, pythonPlugin(t), t.TempDir())
	if faultDir != "" {
		y += fmt.Sprintf("  - {name: fault, command: %s, env: {FAULT_DIR: %s}}\n", fault, faultDir)
	}
	return y
}

func resultOf(r report.Report, analyzer string) (analyzers.Result, bool) {
	for _, res := range r.Results {
		if res.Analyzer == analyzer {
			return res, true
		}
	}
	return analyzers.Result{}, false
}

func symbolNames(res analyzers.Result) []string {
	var out []string
	for _, s := range res.Symbols {
		out = append(out, s.Name)
	}
	return out
}

// checkPluginReports checks that every report holds both example plugins'
// results and that they found what the samples hold.
func checkPluginReports(t *testing.T, reports map[string]report.Report) {
	t.Helper()
	for name, r := range reports {
		for _, a := range []string{"team-rules", "links"} {
			res, ok := resultOf(r, a)
			if !ok || res.Status != analyzers.StatusOK {
				t.Errorf("%s: %s result %+v (present %v)", name, a, res, ok)
			}
		}
	}
	urgent, _ := resultOf(reports["31-urgent-checkout-outage.eml"], "team-rules")
	if got := strings.Join(symbolNames(urgent), ","); got != "URGENT,OUTAGE" {
		t.Errorf("urgent sample: team-rules symbols %s", got)
	}
	phish := reports["18-phish-display-name-spoof.eml"]
	links, _ := resultOf(phish, "links")
	if got := strings.Join(symbolNames(links), ","); got != "LINK_TEXT_MISMATCH" || links.Verdict != analyzers.VerdictSuspicious {
		t.Errorf("phishing sample: links %+v", links)
	}
	if phish.Verdict == analyzers.VerdictClean {
		t.Errorf("phishing sample reported clean")
	}
	if r := reports["05-happy-thank-you.eml"]; r.Verdict != analyzers.VerdictClean {
		t.Errorf("happy sample: verdict %s with plugins: %+v", r.Verdict, r.Results)
	}
}

func TestScanWithPlugins(t *testing.T) {
	cfg := writeConfig(t, pluginsYAML(t, ""))
	_, reports := scanJSON(t, "-c", cfg, samples)
	if len(reports) != sampleCount(t) {
		t.Fatalf("%d reports", len(reports))
	}
	checkPluginReports(t, reports)

	// A plugin runs alone when named, like any analyzer.
	code, out, errOut := execute(t, "", "scan", "--json", "-c", cfg, "--analyzers", "team-rules", filepath.Join(samples, "31-urgent-checkout-outage.eml"))
	var r report.Report
	if code != exitOK || json.Unmarshal([]byte(out), &r) != nil || len(r.Results) != 1 || r.Results[0].Analyzer != "team-rules" {
		t.Fatalf("scan --analyzers team-rules: exit %d, %s %s", code, out, errOut)
	}
}

// TestRunOnceWithPlugins runs the pipeline (POP3, embedded NATS, workers,
// reporter) with the plugins, one of which crashes on a message the first
// time it sees it: the worker retries, the restarted plugin answers, and
// every report is complete.
func TestRunOnceWithPlugins(t *testing.T) {
	dir := t.TempDir()
	crash := "From: a@example.com\r\nTo: b@example.com\r\nSubject: crash-once\r\nMessage-ID: <crash@example.com>\r\nDate: Fri, 20 Nov 2026 09:25:00 +0000\r\n\r\nThis one kills the plugin once.\r\n"
	mailDir, n, cfg := serveSamples(t, dir, map[string]string{"99-crash-once.eml": crash})
	faultDir := t.TempDir()
	jsonl := filepath.Join(dir, "reports.jsonl")
	cfg += "worker:\n  retry_delay: 200ms\noutputs:\n  - {type: jsonl, path: " + jsonl + "}\n" + pluginsYAML(t, faultDir)
	code, _, errOut := execute(t, "", "run", "-c", writeConfig(t, cfg), "--once")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	// The POP3 test server's UIDL is the SHA-256 of the file name.
	names := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	for _, f := range files {
		sum := sha256.Sum256([]byte(filepath.Base(f)))
		names[hex.EncodeToString(sum[:])] = filepath.Base(f)
	}
	reports := map[string]report.Report{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r report.Report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		reports[names[r.UIDL]] = r
	}
	if len(reports) != n {
		t.Fatalf("%d reports, want %d", len(reports), n)
	}
	checkPluginReports(t, reports)
	if _, err := os.Stat(filepath.Join(faultDir, "crashed")); err != nil {
		t.Fatalf("the fault plugin never crashed: %v", err)
	}
	for name, r := range reports {
		res, _ := resultOf(r, "fault")
		if res.Status != analyzers.StatusOK {
			t.Errorf("%s: fault plugin result %+v", name, res)
		}
	}
	started, _ := filepath.Glob(filepath.Join(faultDir, "started.*"))
	if len(started) != 2 {
		t.Errorf("fault plugin started %d times, want 2 (once, then once after its crash)", len(started))
	}
}

func TestPluginCheck(t *testing.T) {
	rules, _ := buildPlugins(t)
	rulesFile, _ := filepath.Abs("../../examples/plugins/rules/rules.yaml")
	b, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	sum := hex.EncodeToString(s[:])

	code, out, errOut := execute(t, "", "plugin", "check", "--sha256", sum, "--arg=-rules", "--arg="+rulesFile, rules)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{sum + " (matches)", "start     ok", "protocol version 1, AutoMTLS on",
		"describe  rules 1.0.0: needs the parsed message", "31-urgent-checkout-outage.eml", "URGENT, OUTAGE",
		fmt.Sprintf("%d messages in", sampleCount(t)), "per message on average"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = execute(t, "", "plugin", "check", "--auto-mtls=false", pythonPlugin(t), filepath.Join(samples, "18-phish-display-name-spoof.eml"))
	if code != exitOK || !strings.Contains(out, "LINK_TEXT_MISMATCH") || !strings.Contains(out, "1 message in") {
		t.Fatalf("python plugin: exit %d\n%s\n%s", code, out, errOut)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"wrong checksum", []string{"--sha256", strings.Repeat("0", 64), "--arg=-rules", "--arg=" + rulesFile, rules}, "refusing to start"},
		{"not a plugin", []string{"/bin/true"}, "exited without printing its handshake line"},
		{"missing", []string{"/nonexistent/plugin"}, "no such file"},
		{"python with AutoMTLS", []string{pythonPlugin(t)}, "auto_mtls: false"},
		{"not mail", []string{"--arg=-rules", "--arg=" + rulesFile, rules, "plugin_test.go"}, "not an email message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := execute(t, "", append([]string{"plugin", "check"}, tt.args...)...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if code != exitFailure || !strings.HasPrefix(last, "mailsift: plugin check") || !strings.Contains(last, tt.want) {
				t.Fatalf("exit %d, last line %q; want exit 1 and %q", code, last, tt.want)
			}
		})
	}
}

func TestPluginConfigErrors(t *testing.T) {
	rules, _ := buildPlugins(t)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key", "plugins:\n  - name: x\n    comand: y\n", []string{"line 3", "comand"}},
		{"no command", "plugins:\n  - name: x\n", []string{"plugin x", "command is required"}},
		{"bad name", "plugins:\n  - {name: 'a b', command: y}\n", []string{`plugin name "a b"`}},
		{"built-in name", "plugins:\n  - {name: headers, command: y}\n", []string{`plugin name "headers" is taken by a built-in analyzer`}},
		{"twice", fmt.Sprintf("plugins:\n  - {name: r, command: %s}\n  - {name: r, command: %s}\n", rules, rules), []string{`plugin name "r" is used twice`}},
		{"bad sha256", "plugins:\n  - {name: x, command: y, sha256: abc}\n", []string{"64 hex digits"}},
		{"wrong sha256", fmt.Sprintf("plugins:\n  - {name: r, command: %s, sha256: %s}\n", rules, strings.Repeat("0", 64)), []string{"plugin r", "refusing to start"}},
		{"missing command", "plugins:\n  - {name: x, command: /nonexistent/plugin}\n", []string{"plugin x", "no such file"}},
		{"bad duration", "plugins:\n  - {name: x, command: y, timeout: 2 seconds}\n", []string{"line 2", "2 seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadAndBuild(writeConfig(t, tt.yaml))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}
