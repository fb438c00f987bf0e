package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/examples"
	"github.com/mailsift/mailsift/ingest"
	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/report"
)

func newDemoCmd() *cobra.Command {
	var (
		dir       string
		jsonlPath string
	)
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--jsonl FILE]",
		Short: "Run everything embedded over the sample mail and print a table of reports",
		Long: `demo runs the whole pipeline in this process, with nothing to set up: a
POP3 server over the sample mail (built into the binary, or --dir), an
embedded NATS JetStream in a temporary directory, ingest, every analyzer
that needs no network, and the reporter. It prints one row per message and
exits when every sample is reported.`,
		Example: `  mailsift demo
  mailsift demo --dir ~/Maildir/cur --jsonl /tmp/reports.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			verbose, _ := cmd.Flags().GetBool("verbose")
			return runDemo(cmd.Context(), cmd, dir, jsonlPath, verbose)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder of .eml files to serve (default: the built-in samples)")
	cmd.Flags().StringVar(&jsonlPath, "jsonl", "", "also write the reports to this JSONL file")
	return cmd
}

func runDemo(ctx context.Context, cmd *cobra.Command, dir, jsonlPath string, verbose bool) error {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "mailsift-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(tmp)

	// The server deletes what it serves once ingest has it on JetStream, so
	// it works on a copy.
	mailDir := filepath.Join(tmp, "mail")
	src := fs.FS(examples.Mail)
	root := "mail"
	if dir != "" {
		src, root = os.DirFS(dir), "."
	}
	n, err := copyEML(src, root, mailDir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("demo: no .eml files in %s", dir)
	}

	f := defaultFile()
	f.Log.Level = "warn"
	log, err := newLogger(f.Log, verbose)
	if err != nil {
		return err
	}
	const user, password = "demo", "demo-password"
	srv := &pop3.Server{Backend: pop3.NewDirBackend(mailDir), Users: map[string]string{user: password}, Logger: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: pop3 listen: %w", err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	pwFile := filepath.Join(tmp, "pop3-password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	mb := ingest.Mailbox{
		Name: "demo", Host: "127.0.0.1", Port: port, TLS: "none", Username: user,
		PasswordFile: pwFile, Delete: "after-publish", PollInterval: time.Second,
	}
	mb.Defaults()
	f.Mailboxes = []ingest.Mailbox{mb}
	f.NATS.StoreDir = filepath.Join(tmp, "nats")
	if jsonlPath != "" {
		f.Outputs = []pipeline.OutputConfig{{Type: "jsonl", Path: jsonlPath}}
	}

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "mailsift demo: %d messages on a POP3 server at %s, embedded NATS in %s\n\n", n, ln.Addr(), f.NATS.StoreDir)
	var mu sync.Mutex
	tab := report.NewTable(out)
	verdicts := map[string]int{}
	err = serve(ctx, &f, serveOptions{
		roles: map[string]bool{"ingest": true, "analyze": true, "report": true},
		once:  true, log: log, stdout: out, expect: n,
		onReport: func(r *report.Report) {
			mu.Lock()
			defer mu.Unlock()
			verdicts[string(r.Verdict)]++
			_ = tab.Write(r)
		},
	})
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(out, "\n%d messages reported in %s: %s\n", n, time.Since(start).Round(time.Millisecond), summarize(verdicts))
	if jsonlPath != "" {
		fmt.Fprintf(out, "reports written to %s\n", jsonlPath)
	}
	return nil
}

// copyEML copies the .eml files under root of src into dir.
func copyEML(src fs.FS, root, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	n := 0
	err := fs.WalkDir(src, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".eml") {
			return nil
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		n++
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o600)
	})
	return n, err
}

func summarize(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}
