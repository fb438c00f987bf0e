package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

func newScanCmd() *cobra.Command {
	var (
		cfgPath  string
		only     []string
		asJSON   bool
		parallel int
	)
	cmd := &cobra.Command{
		Use:   "scan [-c mailsift.yaml] [--analyzers a,b] [--json] FILE.eml... | DIR | -",
		Short: "Analyze .eml files offline: no NATS, no POP3",
		Long: `scan runs the analyzers over files and prints one report per message, the
same report the service writes. A directory is searched for *.eml files; "-"
reads one message from standard input. Analyzer options come from the config
when one is given, defaults otherwise; analyzers that need the network run
only when the config has a section for them.

Exit status: 0 when every file was analyzed, 3 when any report is malicious,
1 when a file could not be read or is not an email message.`,
		Example: `  mailsift scan examples/mail
  mailsift scan --json invoice.eml | jq .verdict
  mailsift scan --analyzers attachments,headers - < message.eml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := loadFile(cfgPath)
			if err != nil {
				return err
			}
			set, err := buildAnalyzers(f, only, false)
			if err != nil {
				return err
			}
			defer set.Close()
			// Offline, analyzer state (caches, sender history) lasts the run.
			if err := set.attach(cmd.Context(), analyzers.NewMemoryState()); err != nil {
				return err
			}
			inputs, err := scanInputs(args)
			if err != nil {
				return err
			}
			return scanAll(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin(), inputs, set, f, asJSON, parallel)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (analyzer options)")
	cmd.Flags().StringSliceVar(&only, "analyzers", nil, "run only these analyzers (comma-separated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print reports as JSON, one per line (schema mailsift.report/v1)")
	cmd.Flags().IntVar(&parallel, "parallel", runtime.GOMAXPROCS(0), "files analyzed at once")
	return cmd
}

// scanInputs expands the arguments into files: directories into the *.eml
// files below them, in name order.
func scanInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", a, unwrapPathError(err))
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".eml") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", a, err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("scan %s: no .eml files in this directory", a)
		}
	}
	return out, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type scanned struct {
	rep *report.Report
	err error
}

func scanAll(ctx context.Context, stdout, stderr io.Writer, stdin io.Reader, inputs []string, set *analyzerSet, f *File, asJSON bool, parallel int) error {
	results := make([]chan scanned, len(inputs))
	for i := range results {
		results[i] = make(chan scanned, 1)
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	policy := report.Policy{Security: set.security, Thresholds: f.Reporter.Thresholds}
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep, err := scanOne(ctx, in, stdin, set, f.Worker.Timeout, policy)
			results[i] <- scanned{rep, err}
		}()
	}
	// Print in input order as results arrive, so output is stable.
	tab := report.NewTable(stdout)
	failed, malicious := 0, 0
	for _, ch := range results {
		s := <-ch
		if s.err != nil {
			failed++
			fmt.Fprintln(stderr, "mailsift:", s.err)
			continue
		}
		if s.rep.Verdict == analyzers.VerdictMalicious {
			malicious++
		}
		var err error
		if asJSON {
			var b []byte
			b, err = json.Marshal(s.rep)
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", b)
			}
		} else {
			err = tab.Write(s.rep)
		}
		if err != nil {
			return err
		}
	}
	wg.Wait()
	switch {
	case failed > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("scan: %d of %d inputs could not be analyzed", failed, len(inputs))}
	case malicious > 0:
		return &exitError{code: exitMalicious}
	}
	return nil
}

func scanOne(ctx context.Context, path string, stdin io.Reader, set *analyzerSet, timeout time.Duration, policy report.Policy) (*report.Report, error) {
	var raw []byte
	var err error
	name := path
	if path == "-" {
		name = "standard input"
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", name, unwrapPathError(err))
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("scan %s: empty file, not an email message", name)
	}
	m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", name, err)
	}
	sum := sha256.Sum256(raw)
	m.ID = hex.EncodeToString(sum[:])
	results := analyzers.RunAll(ctx, set.list, m, timeout)
	env := report.EnvelopeOf(m)
	rep := report.Build(env, results, policy, time.Now())
	if path != "-" {
		rep.File = path
	}
	return &rep, nil
}
