package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/report"
)

// OutputConfig is one entry of the `outputs:` list.
type OutputConfig struct {
	Type string `yaml:"type"` // jsonl | stdout
	// Name makes the output's durable consumer distinct when two outputs
	// have the same type; it defaults to the type.
	Name string `yaml:"name"`
	// Path of the jsonl file.
	Path string `yaml:"path"`
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
	case "stdout":
		if c.Format != "" && c.Format != "table" && c.Format != "json" {
			return fmt.Errorf("output stdout: format %q: want table or json", c.Format)
		}
	case "":
		return errors.New("output: type is required (jsonl or stdout)")
	default:
		return fmt.Errorf("output: unknown type %q (want jsonl or stdout)", c.Type)
	}
	return CheckName("output", strings.TrimPrefix(c.ConsumerName(), "output-"))
}

// NewOutput builds the output an entry of `outputs:` describes.
func NewOutput(c OutputConfig, stdout io.Writer) (Output, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch {
	case c.Type == "jsonl":
		return OpenJSONL(c.Path)
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
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, StreamReports, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "mailsift output " + name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1024,
	})
	if err != nil {
		return fmt.Errorf("nats: consumer %s on %s: %w", name, StreamReports, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("output %s: %w", name, err)
	}
	go func() { <-ctx.Done(); it.Stop() }()
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
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			log.Debug("output next", "output", name, "err", err)
			continue
		}
		var r report.Report
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			log.Error("output: unreadable report skipped", "output", name, "err", err)
			_ = m.Term()
			continue
		}
		if err := out.Write(ctx, &r, m.Data()); err != nil {
			log.Error("output failed; will retry", "output", name, "id", r.ID, "err", err)
			_ = m.NakWithDelay(5 * time.Second)
			continue
		}
		batch = append(batch, m)
		md, err := m.Metadata()
		if err != nil || md.NumPending == 0 || len(batch) >= flushEvery {
			flush()
		}
	}
}

// JSONL appends one report per line to a file; Flush syncs it, so a report
// acknowledged is a report on disk.
type JSONL struct {
	mu   sync.Mutex
	f    *os.File
	path string
	seen *recentSet
}

// jsonlTail is how far back from the end of an existing file JSONL looks for
// ids it already holds: far more than a crash can leave unacknowledged.
const jsonlTail = 4 << 20

// OpenJSONL opens path for appending, reading the ids of the reports already
// at its end so that a replay after a crash does not write them twice.
func OpenJSONL(path string) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("output jsonl: %w", err)
	}
	j := &JSONL{f: f, path: path, seen: newRecentSet(20_000)}
	if err := j.loadTail(); err != nil {
		f.Close()
		return nil, fmt.Errorf("output jsonl %s: %w", path, err)
	}
	return j, nil
}

func (j *JSONL) loadTail() error {
	st, err := j.f.Stat()
	if err != nil {
		return err
	}
	off := max(st.Size()-jsonlTail, 0)
	sc := bufio.NewScanner(io.NewSectionReader(j.f, off, st.Size()-off))
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
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("output jsonl %s: %w", j.path, err)
	}
	j.seen.add(r.ID)
	return nil
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
