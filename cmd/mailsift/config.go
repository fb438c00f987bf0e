package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/ingest"
	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/plugins"
)

// File is mailsift.yaml. Each section is owned by the package that uses it;
// this struct only puts them together.
type File struct {
	NATS      pipeline.Config         `yaml:"nats"`
	Mailboxes []ingest.Mailbox        `yaml:"mailboxes"`
	Analyzers map[string]config.Node  `yaml:"analyzers"`
	Worker    pipeline.WorkerConfig   `yaml:"worker"`
	Reporter  pipeline.ReporterConfig `yaml:"reporter"`
	Outputs   []pipeline.OutputConfig `yaml:"outputs"`
	Log       LogConfig               `yaml:"log"`
	Metrics   MetricsConfig           `yaml:"metrics"`
	Plugins   []plugins.Config        `yaml:"plugins"`

	path string // where it was read from, for error messages
}

// MetricsConfig is the `metrics:` section.
type MetricsConfig struct {
	// Listen is the address of /metrics, /healthz and /readyz, such as
	// "127.0.0.1:9464"; empty turns the endpoint off.
	Listen string `yaml:"listen"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

func defaultFile() File {
	return File{
		NATS:     pipeline.Defaults(),
		Worker:   pipeline.DefaultWorker(),
		Reporter: pipeline.DefaultReporter(),
		Log:      LogConfig{Level: "info", Format: "text"},
	}
}

// loadFile reads the config at path; an empty path gives the defaults.
func loadFile(path string) (*File, error) {
	f := defaultFile()
	if path != "" {
		if err := config.Load(path, &f); err != nil {
			return nil, err
		}
		f.path = path
	}
	for i := range f.Mailboxes {
		mb := &f.Mailboxes[i]
		mb.Defaults()
		if err := mb.Validate(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		for _, other := range f.Mailboxes[:i] {
			if other.Name == mb.Name {
				return nil, fmt.Errorf("config %s: mailbox name %q is used twice", path, mb.Name)
			}
		}
	}
	if err := f.NATS.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if f.Worker.MaxDeliveries < 1 {
		return nil, fmt.Errorf("config %s: worker.max_deliveries must be at least 1", path)
	}
	if f.Reporter.ReportTimeout <= 0 {
		return nil, fmt.Errorf("config %s: reporter.report_timeout must be positive", path)
	}
	consumers := map[string]bool{}
	for _, o := range f.Outputs {
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		// Two outputs on one durable consumer would split the reports
		// between them instead of each getting all.
		if consumers[o.ConsumerName()] {
			return nil, fmt.Errorf("config %s: two outputs named %q: give each a distinct name", path, strings.TrimPrefix(o.ConsumerName(), "output-"))
		}
		consumers[o.ConsumerName()] = true
	}
	if _, err := newLogger(f.Log, false); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := checkPlugins(f.Plugins); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &f, nil
}

// analyzerSet is the analyzers one command runs, built from the config.
type analyzerSet struct {
	list     []analyzers.Analyzer
	security map[string]bool
}

func (s *analyzerSet) names() []string {
	out := make([]string, len(s.list))
	for i, a := range s.list {
		out[i] = a.Name()
	}
	return out
}

// attach gives stateful analyzers their state store.
func (s *analyzerSet) attach(ctx context.Context, st analyzers.State) error {
	for _, a := range s.list {
		if sa, ok := a.(analyzers.Stateful); ok {
			if err := sa.Attach(ctx, st); err != nil {
				return fmt.Errorf("analyzer %s: %w", a.Name(), err)
			}
		}
	}
	return nil
}

func (s *analyzerSet) Close() {
	for _, a := range s.list {
		if c, ok := a.(analyzers.Closer); ok {
			_ = c.Close()
		}
	}
}

// buildAnalyzers picks and builds the analyzers to run. With only set, those
// run. Otherwise every registered analyzer that needs no network runs, plus
// every one the config has a section for; `enabled: false` in a section
// turns an analyzer off.
func buildAnalyzers(f *File, only []string, offline bool) (*analyzerSet, error) {
	where := "config"
	if f.path != "" {
		where = "config " + f.path
	}
	sections := map[string]config.Node{}
	enabled := map[string]bool{}
	for name, n := range f.Analyzers {
		if _, ok := analyzers.Lookup(name); !ok {
			return nil, fmt.Errorf("%s: analyzers.%s: no such analyzer (known: %s)", where, name, strings.Join(registeredNames(), ", "))
		}
		on := true
		if _, err := n.Take("enabled", &on); err != nil {
			return nil, fmt.Errorf("%s: analyzers.%s: %w", where, name, err)
		}
		sections[name] = n
		enabled[name] = on
	}
	var pick []string
	if len(only) > 0 {
		for _, name := range only {
			if _, ok := analyzers.Lookup(name); !ok && !slices.Contains(pluginNames(f), name) {
				return nil, fmt.Errorf("analyzer %q: no such analyzer (known: %s)", name, strings.Join(append(registeredNames(), pluginNames(f)...), ", "))
			}
		}
		pick = only
	} else {
		for _, r := range analyzers.Registered() {
			on, configured := enabled[r.Name]
			switch {
			case configured && !on:
			case r.Network && (offline || !configured):
			default:
				pick = append(pick, r.Name)
			}
		}
	}
	slices.Sort(pick)
	pick = slices.Compact(pick)
	set := &analyzerSet{security: map[string]bool{}}
	for _, name := range pick {
		if slices.Contains(pluginNames(f), name) {
			continue
		}
		var opts analyzers.Options = analyzers.NoOptions{}
		if n, ok := sections[name]; ok {
			opts = n
		}
		reg, _ := analyzers.Lookup(name)
		a, err := reg.New(opts)
		if err != nil {
			set.Close()
			if _, configured := sections[name]; configured {
				return nil, fmt.Errorf("%s: analyzers.%s: %w", where, name, err)
			}
			return nil, fmt.Errorf("analyzer %s: %w", name, err)
		}
		set.list = append(set.list, a)
		set.security[name] = reg.Security
	}
	if err := startPlugins(f, only, set); err != nil {
		set.Close()
		return nil, err
	}
	if len(set.list) == 0 {
		return nil, fmt.Errorf("no analyzers selected")
	}
	return set, nil
}

// checkPlugins checks the plugins: section; the plugins start later, with
// the other analyzers.
func checkPlugins(ps []plugins.Config) error {
	for i, p := range ps {
		if err := p.Validate(); err != nil {
			return err
		}
		if _, ok := analyzers.Lookup(p.Name); ok {
			return fmt.Errorf("plugin name %q is taken by a built-in analyzer", p.Name)
		}
		for _, other := range ps[:i] {
			if other.Name == p.Name {
				return fmt.Errorf("plugin name %q is used twice", p.Name)
			}
		}
	}
	return nil
}

// startPlugins starts the configured plugins (with only set, those named)
// and adds them to the set: a plugin is an analyzer by its configured name,
// a security one when its Describe or its config says so.
func startPlugins(f *File, only []string, set *analyzerSet) error {
	if len(f.Plugins) == 0 {
		return nil
	}
	log, err := newLogger(f.Log, false)
	if err != nil {
		return err
	}
	for _, pc := range f.Plugins {
		if len(only) > 0 && !slices.Contains(only, pc.Name) {
			continue
		}
		p, err := plugins.Start(context.Background(), pc, log)
		if err != nil {
			return err
		}
		set.list = append(set.list, p)
		set.security[p.Name()] = p.Security()
	}
	return nil
}

func pluginNames(f *File) []string {
	var out []string
	for _, p := range f.Plugins {
		out = append(out, p.Name)
	}
	return out
}

func registeredNames() []string {
	var out []string
	for _, r := range analyzers.Registered() {
		out = append(out, r.Name)
	}
	return out
}

func newLogger(c LogConfig, verbose bool) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Level)
	}
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", c.Format)
}
