package plugins

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// pythonPlugin is the Python example, run as mailsift runs it: the script
// itself is the command, started through its shebang line.
func pythonPlugin(t *testing.T) Config {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf").CombinedOutput()
	if err != nil {
		t.Fatalf("/usr/bin/python3 cannot import grpc and protobuf (%v: %s): install the Debian packages python3-grpcio and python3-protobuf (apt-get install -y python3-grpcio python3-protobuf)",
			err, strings.TrimSpace(string(out)))
	}
	path, err := filepath.Abs("../examples/plugins/python/links.py")
	if err != nil {
		t.Fatal(err)
	}
	off := false
	// Its socket directory goes where the test cleans up, even when the
	// process is killed.
	return Config{Name: "links", Command: path, AutoMTLS: &off, Env: map[string]string{"TMPDIR": t.TempDir()}}
}

func TestPythonPlugin(t *testing.T) {
	p := startPlugin(t, pythonPlugin(t))
	d := p.Description()
	if d.Name != "links" || d.Version != "1.0.0" || d.Needs != InputParsed || !d.Security || !p.Security() || d.Protocol != 1 {
		t.Errorf("description %+v", d)
	}
	tests := []struct {
		file    string
		verdict analyzers.Verdict
		symbols []string
	}{
		{"18-phish-display-name-spoof.eml", analyzers.VerdictSuspicious, []string{"LINK_TEXT_MISMATCH"}},
		{"05-happy-thank-you.eml", analyzers.VerdictClean, nil},
		{"19-newsletter-winter-sale.eml", analyzers.VerdictClean, nil},
		{"24-malformed-broken-base64.eml", analyzers.VerdictClean, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := run(t, p, sample(t, tt.file), 10*time.Second)
			if res.Status != analyzers.StatusOK || res.Verdict != tt.verdict || res.Analyzer != "links" {
				t.Fatalf("result %+v, want ok %s", res, tt.verdict)
			}
			var names []string
			for _, s := range res.Symbols {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tt.symbols) {
				t.Errorf("symbols %v, want %v", names, tt.symbols)
			}
			var data struct {
				Links    int              `json:"links"`
				Findings []map[string]any `json:"findings"`
			}
			if err := json.Unmarshal(res.Data, &data); err != nil {
				t.Fatalf("data %s: %v", res.Data, err)
			}
			if len(data.Findings) < len(tt.symbols) {
				t.Errorf("data %s", res.Data)
			}
		})
	}

	// Crafted links, through the parsed view.
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: links\r\nContent-Type: text/html\r\n\r\n" +
		`<a href="javascript:alert(1)">x</a> <a href="http://192.0.2.7/pay">pay</a> ` +
		`<a href="https://xn--pypal-4ve.example/">paypal</a> <a href="https://bank.example@evil.example/">bank</a>` + "\r\n"
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, p, m, 10*time.Second)
	want := map[string]bool{"LINK_SCRIPT": true, "LINK_IP_HOST": true, "LINK_PUNYCODE": true, "LINK_USERINFO": true}
	for _, s := range res.Symbols {
		delete(want, s.Name)
	}
	if len(want) > 0 || res.Verdict != analyzers.VerdictMalicious || res.Score != 14 {
		t.Errorf("crafted links: %+v, missing %v", res, want)
	}
}

// TestPythonPluginWithAutoMTLS checks the error a plugin without go-plugin's
// certificate exchange gives when AutoMTLS is left on: one line saying
// what to set.
func TestPythonPluginWithAutoMTLS(t *testing.T) {
	cfg := pythonPlugin(t)
	cfg.AutoMTLS = nil
	_, err := Start(context.Background(), cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "auto_mtls: false") {
		t.Fatalf("err = %v, want advice to set auto_mtls: false", err)
	}
}

// TestPythonPluginChecksumIsTheScript checks that sha256 covers the script
// mailsift starts, not the interpreter.
func TestPythonPluginChecksumIsTheScript(t *testing.T) {
	cfg := pythonPlugin(t)
	sum, err := fileSHA256(cfg.Command)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SHA256 = sum
	p := startPlugin(t, cfg)
	if res := run(t, p, sample(t, "05-happy-thank-you.eml"), 10*time.Second); res.Status != analyzers.StatusOK {
		t.Fatalf("%+v", res)
	}
}

// TestPythonUnitTests runs the Python example's own unit tests, so CI runs
// them with the rest.
func TestPythonUnitTests(t *testing.T) {
	pythonPlugin(t)
	cmd := exec.Command("/usr/bin/python3", "-m", "unittest", "discover", "-s", "../examples/plugins/python", "-p", "test_*.py")
	cmd.Env = append(cmd.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python unit tests: %v\n%s", err, out)
	}
}
