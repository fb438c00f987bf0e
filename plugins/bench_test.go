package plugins

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/examples/plugins/rules"
)

// benchMessage is a 10 KB support mail: a plain-text body and its HTML
// alternative, with a few words the example rules look for.
func benchMessage(b *testing.B) *analyzers.Message {
	b.Helper()
	para := "Hello team, the checkout page shows an error when I pay by card, and the order " +
		"stays pending. I tried twice this morning and once from my phone. Could you look at " +
		"order 4471 and tell me whether the money was taken? Thanks for your help.\n\n"
	var text, html strings.Builder
	for text.Len() < 4600 {
		text.WriteString(para)
		html.WriteString("<p>" + strings.TrimSpace(para) + "</p>\n")
	}
	text.WriteString("This is urgent: we have a refund request waiting.\n")
	raw := "From: Dana Reyes <dana@example.com>\r\nTo: support@brightlane.example\r\n" +
		"Subject: Checkout failing, order 4471\r\nDate: Fri, 20 Nov 2026 09:25:00 +0000\r\n" +
		"Message-ID: <bench-4471@example.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.String() + "\r\n" +
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + html.String() +
		"<p><a href=\"https://brightlane.example/orders/4471\">your order</a></p></body></html>\r\n--b1--\r\n"
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(m.Raw); n < 9500 || n > 10500 {
		b.Fatalf("message is %d bytes, want about 10 KB", n)
	}
	return m
}

func startBench(b *testing.B, cfg Config) *Plugin {
	b.Helper()
	p, err := Start(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchAnalyze parses the message afresh for every call, built in or not:
// a Message keeps what analyzers derive from it (the extracted text), and
// reusing one would time a remembered extraction against a plugin that
// redoes it. The parse costs both sides the same, so the difference between
// them is still the plugin's overhead.
func benchAnalyze(b *testing.B, a analyzers.Analyzer, m *analyzers.Message) {
	ctx := context.Background()
	res, err := analyzers.Run(ctx, a, m)
	if err != nil || res.Status != analyzers.StatusOK {
		b.Fatalf("%+v %v", res, err)
	}
	b.SetBytes(int64(len(m.Raw)))
	b.ResetTimer()
	for b.Loop() {
		fresh, err := analyzers.Parse(m.Raw, analyzers.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := analyzers.Run(ctx, a, fresh); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRules compares the rules example built in and as a plugin, one
// 10 KB message at a time: the difference is the plugin's overhead per
// message (building the parsed view, gRPC over a Unix socket, checking the
// answer). "subject" runs rules that read only the subject and sender, so
// the analysis itself costs microseconds and the overhead stands out;
// "body" runs the example's rules file, which reads the body's own words.
func BenchmarkRules(b *testing.B) {
	for _, file := range []string{"testdata/subject-rules.yaml", "../examples/plugins/rules/rules.yaml"} {
		name := "subject"
		if strings.HasPrefix(filepath.Base(file), "rules") {
			name = "body"
		}
		b.Run(name, func(b *testing.B) { benchRules(b, file) })
	}
}

func benchRules(b *testing.B, file string) {
	rulesFile, err := filepath.Abs(file)
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage(b)
	builtin, err := rules.Load(rulesFile)
	if err != nil {
		b.Fatal(err)
	}
	off := false
	b.Run("builtin", func(b *testing.B) { benchAnalyze(b, builtin, m) })
	b.Run("plugin", func(b *testing.B) {
		benchAnalyze(b, startBench(b, Config{Name: "rules", Command: bin.rules, Args: []string{"-rules", rulesFile}}), m)
	})
	b.Run("plugin-no-mtls", func(b *testing.B) {
		benchAnalyze(b, startBench(b, Config{Name: "rules", Command: bin.rules, Args: []string{"-rules", rulesFile}, AutoMTLS: &off}), m)
	})
	// Eight calls at once, as a worker with concurrency 8 makes them.
	b.Run("plugin-parallel-8", func(b *testing.B) {
		p := startBench(b, Config{Name: "rules", Command: bin.rules, Args: []string{"-rules", rulesFile}, MaxConcurrency: 8})
		b.SetBytes(int64(len(m.Raw)))
		b.SetParallelism(4) // 4 × GOMAXPROCS(2) goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res, err := analyzers.Run(context.Background(), p, m); err != nil || res.Status != analyzers.StatusOK {
					panic(fmt.Sprintf("%+v %v", res, err))
				}
			}
		})
	})
}

// BenchmarkPythonLinks is the Python example's cost per 10 KB message, for
// scale: there is no built-in twin to subtract.
func BenchmarkPythonLinks(b *testing.B) {
	path, err := filepath.Abs("../examples/plugins/python/links.py")
	if err != nil {
		b.Fatal(err)
	}
	off := false
	benchAnalyze(b, startBench(b, Config{Name: "links", Command: path, AutoMTLS: &off, Env: map[string]string{"TMPDIR": b.TempDir()}}), benchMessage(b))
}
