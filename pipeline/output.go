package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/report"
)

// OutputConfig is one entry of the `outputs:` list.
type OutputConfig struct {
	Type string `yaml:"type"` // jsonl | webhook | stdout
	// Name makes the output's durable consumer distinct when two outputs
	// have the same type; it defaults to the type.
	Name string `yaml:"name"`
	// When, an expr expression over the report, picks the reports this
	// output gets (see Condition); empty means all.
	When string `yaml:"when"`
	// Path of the jsonl file; MaxSize rotates it (the old file gets a
	// timestamp suffix) once it is that large, keeping MaxFiles old ones.
	Path     string          `yaml:"path"`
	MaxSize  config.ByteSize `yaml:"max_size"`
	MaxFiles int             `yaml:"max_files"`
	// URL of the webhook; its HMAC secret from SecretEnv or SecretFile.
	URL        string        `yaml:"url"`
	SecretEnv  string        `yaml:"secret_env"`
	SecretFile string        `yaml:"secret_file"`
	Timeout    time.Duration `yaml:"timeout"`
	// Format of stdout: table (default) or json.
	Format string `yaml:"format"`
}

// Output receives each report once, in the order they were stored. Flush
// makes everything written so far durable; reports are acknowledged only
// after it returns.
type Output interface {
	Write(ctx context.Context, r *report.Report, raw []byte) error
	Flush() error
	Close() error
}

// Validate checks an output entry without opening anything.
func (c OutputConfig) Validate() error {
	switch c.Type {
	case "jsonl":
		if c.Path == "" {
			return errors.New("output jsonl: path is required")
		}
	case "webhook":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("output webhook: url %q: want an http or https URL", c.URL)
		}
	case "stdout":
		if c.Format != "" && c.Format != "table" && c.Format != "json" {
			return fmt.Errorf("output stdout: format %q: want table or json", c.Format)
		}
	case "":
		return errors.New("output: type is required (jsonl, webhook or stdout)")
	default:
		return fmt.Errorf("output: unknown type %q (want jsonl, webhook or stdout)", c.Type)
	}
	// A key of another output type is most likely a mistake (a webhook
	// given a path), so it is refused rather than ignored.
	var stray []string
	for key, set := range map[string]bool{
		"path": c.Path != "", "max_size": c.MaxSize != 0, "max_files": c.MaxFiles != 0,
		"url": c.URL != "", "secret_env": c.SecretEnv != "", "secret_file": c.SecretFile != "", "timeout": c.Timeout != 0,
		"format": c.Format != "",
	} {
		if set && !slices.Contains(outputKeys[c.Type], key) {
			stray = append(stray, key)
		}
	}
	if len(stray) > 0 {
		slices.Sort(stray)
		return fmt.Errorf("output %s: %s not used by type %s", c.Type, strings.Join(stray, ", "), c.Type)
	}
	if _, err := CompileCondition(c.When); err != nil {
		return fmt.Errorf("output %s: %w", c.ConsumerName(), err)
	}
	return CheckName("output", strings.TrimPrefix(c.ConsumerName(), "output-"))
}

// outputKeys are the type-specific keys of each output type.
var outputKeys = map[string][]string{
	"jsonl":   {"path", "max_size", "max_files"},
	"webhook": {"url", "secret_env", "secret_file", "timeout"},
	"stdout":  {"format"},
}

// NewOutput builds the output an entry of `outputs:` describes.
func NewOutput(c OutputConfig, stdout io.Writer) (Output, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch {
	case c.Type == "jsonl":
		return OpenJSONL(c.Path, c.MaxSize, c.MaxFiles)
	case c.Type == "webhook":
		return NewWebhook(c)
	case c.Format == "json":
		return &jsonOutput{w: stdout}, nil
	}
	return &tableOutput{t: report.NewTable(stdout)}, nil
}

// ConsumerName is the durable consumer on REPORTS that feeds this output.
func (c OutputConfig) ConsumerName() string {
	if c.Name != "" {
		return "output-" + c.Name
	}
	return "output-" + c.Type
}

// RunOutput feeds one output from REPORTS until ctx is cancelled. Each report
// is acknowledged after the output took it, so a crash replays at most the
// reports since the last acknowledgement; JSONL drops those it already holds.
func (c *Conn) RunOutput(ctx context.Context, oc OutputConfig, out Output, log *slog.Logger) error {
	name := oc.ConsumerName()
	when, err := CompileCondition(oc.When)
	if err != nil {
		return err
	}
	var cons jetstream.Consumer
	err = retryUnavailable(ctx, 2*time.Minute, log, func(ctx context.Context) (err error) {
		cons, err = c.JS.CreateOrUpdateConsumer(ctx, StreamReports, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "mailsift output " + name,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       time.Minute,
			MaxAckPending: 1024,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("nats: consumer %s on %s: %w", name, StreamReports, err)
	}
	// Reports are written as they come and acknowledged in batches: a batch
	// ends when the consumer has nothing more pending or holds flushEvery
	// reports, and it is acknowledged only after the output has flushed it.
	const flushEvery = 256
	var batch []jetstream.Msg
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := out.Flush(); err != nil {
			log.Error("output flush failed; batch will be replayed", "output", name, "err", err)
			for _, m := range batch {
				_ = m.NakWithDelay(5 * time.Second)
			}
		} else {
			for _, m := range batch {
				_ = m.Ack()
			}
		}
		batch = batch[:0]
	}
	defer flush()
	// Pulled as workers pull (pullBatches), not with jetstream's Messages,
	// which shares Consume's lost refill.
	pullBatches(ctx, cons, flushEvery, func(m jetstream.Msg) {
		var r report.Report
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			log.Error("output: unreadable report skipped", "output", name, "err", err)
			_ = m.Term()
			return
		}
		match, err := when.Match(&r)
		if err != nil {
			// A condition that cannot be evaluated on this report (a field
			// of the wrong type) would fail the same way forever.
			log.Warn("output condition failed; report skipped by this output", "output", name, "err", err)
		}
		if !match {
			batch = append(batch, m)
			if md, err := m.Metadata(); err != nil || md.NumPending == 0 || len(batch) >= flushEvery {
				flush()
			}
			return
		}
		if err := out.Write(ctx, &r, m.Data()); err != nil {
			log.Error("output failed; will retry", "output", name, "id", r.ID, "err", err)
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		batch = append(batch, m)
		md, err := m.Metadata()
		if err != nil || md.NumPending == 0 || len(batch) >= flushEvery {
			flush()
		}
	}, func(err error) { log.Debug("output pull", "output", name, "err", err) })
	return nil
}

// WaitOutputs blocks until the consumers of the given outputs have
// everything on REPORTS acknowledged: each output has taken every report.
func (c *Conn) WaitOutputs(ctx context.Context, outs []OutputConfig) error {
	for _, oc := range outs {
		for {
			cons, err := c.JS.Consumer(ctx, StreamReports, oc.ConsumerName())
			if err == nil {
				info, err := cons.Info(ctx)
				if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
					break
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// JSONL appends one report per line to a file; Flush syncs it, so a report
// acknowledged is a report on disk. With a size limit the file is rotated:
// renamed with a timestamp suffix and started anew.
type JSONL struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	size     int64
	maxSize  int64
	maxFiles int
	seen     *recentSet
}

// jsonlTail is how far back from the end of an existing file JSONL looks for
// ids it already holds: far more than a crash can leave unacknowledged.
const jsonlTail = 4 << 20

// OpenJSONL opens path for appending, reading the ids of the reports already
// at its end (and at the end of the newest rotated file) so that a replay
// after a crash does not write them twice. maxSize 0 never rotates;
// maxFiles 0 keeps every rotated file.
func OpenJSONL(path string, maxSize config.ByteSize, maxFiles int) (*JSONL, error) {
	j := &JSONL{path: path, maxSize: int64(maxSize), maxFiles: maxFiles, seen: newRecentSet(20_000)}
	if old := j.rotated(); len(old) > 0 {
		if err := j.loadTail(old[len(old)-1]); err != nil {
			return nil, fmt.Errorf("output jsonl %s: %w", old[len(old)-1], err)
		}
	}
	if err := j.loadTail(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("output jsonl %s: %w", path, err)
	}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *JSONL) open() error {
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("output jsonl: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("output jsonl: %w", err)
	}
	j.f, j.size = f, st.Size()
	return nil
}

// rotated lists the rotated files, oldest first (their suffixes sort by time).
func (j *JSONL) rotated() []string {
	m, _ := filepath.Glob(j.path + ".*")
	sort.Strings(m)
	return m
}

func (j *JSONL) loadTail(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	off := max(st.Size()-jsonlTail, 0)
	sc := bufio.NewScanner(io.NewSectionReader(f, off, st.Size()-off))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := off > 0
	for sc.Scan() {
		if first { // likely a partial line
			first = false
			continue
		}
		var probe struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(sc.Bytes(), &probe) == nil && probe.ID != "" {
			j.seen.add(probe.ID)
		}
	}
	return sc.Err()
}

// Write appends the report unless the file already holds it.
func (j *JSONL) Write(_ context.Context, r *report.Report, raw []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seen.has(r.ID) {
		return nil
	}
	line := append(bytes.TrimSpace(raw), '\n')
	if j.maxSize > 0 && j.size > 0 && j.size+int64(len(line)) > j.maxSize {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	n, err := j.f.Write(line)
	j.size += int64(n)
	if err != nil {
		return fmt.Errorf("output jsonl %s: %w", j.path, err)
	}
	j.seen.add(r.ID)
	return nil
}

func (j *JSONL) rotate() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("output jsonl %s: sync: %w", j.path, err)
	}
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("output jsonl %s: %w", j.path, err)
	}
	to := j.path + "." + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(j.path, to); err != nil {
		return fmt.Errorf("output jsonl: rotate: %w", err)
	}
	if j.maxFiles > 0 {
		old := j.rotated()
		for len(old) > j.maxFiles {
			_ = os.Remove(old[0])
			old = old[1:]
		}
	}
	return j.open()
}

// Flush syncs the file to disk.
func (j *JSONL) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("output jsonl %s: sync: %w", j.path, err)
	}
	return nil
}

// Close closes the file.
func (j *JSONL) Close() error { return j.f.Close() }

type tableOutput struct{ t *report.Table }

func (o *tableOutput) Write(_ context.Context, r *report.Report, _ []byte) error { return o.t.Write(r) }
func (o *tableOutput) Flush() error                                              { return nil }
func (o *tableOutput) Close() error                                              { return nil }

type jsonOutput struct{ w io.Writer }

func (o *jsonOutput) Write(_ context.Context, _ *report.Report, raw []byte) error {
	_, err := o.w.Write(append(bytes.TrimSpace(raw), '\n'))
	return err
}
func (o *jsonOutput) Flush() error { return nil }
func (o *jsonOutput) Close() error { return nil }
