package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/examples"
	"github.com/mailsift/mailsift/plugins"
)

func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Analyzer plugins: check one before configuring it",
		Example: `  mailsift plugin check ./mailsift-rules examples/mail/02-plain-refund-angry.eml
  mailsift plugin check --auto-mtls=false examples/plugins/python/links.py`,
	}
	cmd.AddCommand(newPluginCheckCmd())
	return cmd
}

func newPluginCheckCmd() *cobra.Command {
	var (
		name     string
		sum      string
		autoMTLS bool
		timeout  time.Duration
		args     []string
		env      []string
	)
	cmd := &cobra.Command{
		Use:   "check PATH [FILE.eml... | DIR]",
		Short: "Start a plugin, check its handshake and checksum, run it over sample mail",
		Long: `check starts the plugin at PATH (an executable, or a script with a shebang
line) as mailsift runs it, checks the handshake and, with --sha256, the
checksum, prints what the plugin says about itself, analyzes the sample
mail (the files given, or the built-in samples of examples/mail) and
prints each result with the time it took.

It stops at the first failure (a refused start, a crash, a timeout, an
answer that is not a valid result) and exits 1 with one line saying
what went wrong.`,
		Example: `  mailsift plugin check bin/mailsift-rules
  mailsift plugin check --arg=-rules --arg=team-rules.yaml bin/mailsift-rules ~/mail/*.eml
  mailsift plugin check --auto-mtls=false examples/plugins/python/links.py
  mailsift plugin check --sha256 "$(sha256sum bin/mailsift-rules | cut -d' ' -f1)" bin/mailsift-rules`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			verbose, _ := cmd.Flags().GetBool("verbose")
			log, err := newLogger(LogConfig{Level: "info"}, verbose)
			if err != nil {
				return err
			}
			cfg := plugins.Config{Name: name, Command: argv[0], Args: args, SHA256: sum, Timeout: timeout, AutoMTLS: &autoMTLS}
			if cfg.Name == "" {
				cfg.Name = pluginName(argv[0])
			}
			if len(env) > 0 {
				cfg.Env = map[string]string{}
				for _, kv := range env {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return fmt.Errorf("--env %q: want NAME=VALUE", kv)
					}
					cfg.Env[k] = v
				}
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			samples, err := pluginSamples(argv[1:])
			if err != nil {
				return err
			}
			return checkPlugin(cmd.Context(), cmd.OutOrStdout(), cfg, samples, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the analyzer's name in reports (default: from PATH)")
	f.StringVar(&sum, "sha256", "", "refuse to start the plugin unless its file has this hex SHA-256")
	f.BoolVar(&autoMTLS, "auto-mtls", true, "use go-plugin's AutoMTLS; false for plugins not built on go-plugin")
	f.DurationVar(&timeout, "timeout", 0, "bound on one analysis (default: the plugin's own, else 10s)")
	f.StringArrayVar(&args, "arg", nil, "an argument for the plugin (repeat for more)")
	f.StringArrayVar(&env, "env", nil, "NAME=VALUE for the plugin's environment (repeat for more)")
	return cmd
}

// sampleFile is one message to check a plugin with.
type sampleFile struct {
	name string
	raw  []byte
}

// pluginSamples reads the files given, or the built-in samples.
func pluginSamples(args []string) ([]sampleFile, error) {
	var out []sampleFile
	if len(args) == 0 {
		err := fs.WalkDir(examples.Mail, "mail", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".eml") {
				return err
			}
			raw, err := fs.ReadFile(examples.Mail, p)
			out = append(out, sampleFile{name: filepath.Join("examples", filepath.FromSlash(p)), raw: raw})
			return err
		})
		return out, err
	}
	files, err := scanInputs(args)
	if err != nil {
		return nil, err
	}
	for _, p := range files {
		if p == "-" {
			return nil, fmt.Errorf("plugin check: standard input is not supported; name .eml files")
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("plugin check %s: %w", p, unwrapPathError(err))
		}
		out = append(out, sampleFile{name: p, raw: raw})
	}
	return out, nil
}

var notNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// pluginName makes an analyzer name of a plugin's file name.
func pluginName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	base = strings.Trim(notNameChars.ReplaceAllString(base, "-"), "-")
	if base == "" {
		return "plugin"
	}
	return base
}

// checkPlugin walks through a plugin as `mailsift run` would use it and
// prints each step; the first failure ends the walk with an error.
func checkPlugin(ctx context.Context, out io.Writer, cfg plugins.Config, samples []sampleFile, log *slog.Logger) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("plugin check %s: %s", cfg.Command, fmt.Sprintf(format, args...))
	}
	resolved, err := exec.LookPath(cfg.Command)
	if err != nil {
		return fail("%v", unwrapExecError(err))
	}
	raw, err := os.ReadFile(resolved)
	if err != nil {
		return fail("%v", unwrapPathError(err))
	}
	sum := sha256.Sum256(raw)
	fmt.Fprintf(out, "plugin    %s\n", resolved)
	switch {
	case cfg.SHA256 == "":
		fmt.Fprintf(out, "sha256    %x (not pinned: put it in the config's sha256 to refuse any other file)\n", sum)
	case strings.EqualFold(cfg.SHA256, hex.EncodeToString(sum[:])):
		fmt.Fprintf(out, "sha256    %x (matches)\n", sum)
	default:
		fmt.Fprintf(out, "sha256    %x (differs from --sha256: the start must be refused)\n", sum)
	}

	start := time.Now()
	p, err := plugins.Start(ctx, cfg, log)
	if err != nil {
		return fail("%v", err)
	}
	defer p.Close()
	d := p.Description()
	mtls := "off"
	if cfg.AutoMTLS == nil || *cfg.AutoMTLS {
		mtls = "on"
	}
	fmt.Fprintf(out, "start     ok in %s: handshake, protocol version %d, AutoMTLS %s\n", time.Since(start).Round(time.Millisecond), d.Protocol, mtls)
	security := "no"
	if p.Security() {
		security = "yes"
	}
	fmt.Fprintf(out, "describe  %s %s: needs the %s message, timeout %s, security %s\n",
		orNone(d.Name), orNone(d.Version), inputText(d.Needs), p.Timeout(), security)
	if d.Doc != "" {
		fmt.Fprintf(out, "          %s\n", d.Doc)
	}
	fmt.Fprintln(out)

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSTATUS\tVERDICT\tSCORE\tTIME\tSYMBOLS")
	var total, slowest time.Duration
	slowestFile := ""
	for _, s := range samples {
		m, err := analyzers.Parse(s.raw, analyzers.ParseOptions{})
		if err != nil {
			tw.Flush()
			return fail("%s: %v", s.name, err)
		}
		id := sha256.Sum256(s.raw)
		m.ID = hex.EncodeToString(id[:])
		t0 := time.Now()
		res, err := p.Call(ctx, m)
		took := time.Since(t0)
		if err != nil {
			tw.Flush()
			return fail("%s: %v", s.name, err)
		}
		total += took
		if took > slowest {
			slowest, slowestFile = took, s.name
		}
		if res.Verdict == "" {
			res.Verdict = analyzers.VerdictClean
			if res.Status != analyzers.StatusOK {
				res.Verdict = analyzers.VerdictUnknown
			}
		}
		var syms []string
		for _, sym := range res.Symbols {
			syms = append(syms, sym.Name)
		}
		if res.Error != "" {
			syms = append(syms, "("+res.Error+")")
		}
		if len(syms) == 0 {
			syms = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\n", filepath.Base(s.name), res.Status, res.Verdict, res.Score,
			fmtMillis(took), strings.Join(slices.Compact(syms), ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := len(samples)
	noun := "messages"
	if n == 1 {
		noun = "message"
	}
	fmt.Fprintf(out, "\n%d %s in %s: %s per message on average, slowest %s (%s)\n",
		n, noun, total.Round(time.Microsecond), fmtMillis(total/time.Duration(max(n, 1))), fmtMillis(slowest), filepath.Base(slowestFile))
	return nil
}

func fmtMillis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func inputText(in plugins.Input) string {
	switch in {
	case plugins.InputRaw:
		return "raw"
	case plugins.InputParsed:
		return "parsed"
	}
	return "raw and parsed"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func unwrapExecError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
