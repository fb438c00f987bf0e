// Package analyzers holds what every analyzer shares: the Analyzer interface,
// the parsed Message view it reads, the Result it returns, and the registry
// through which built-in analyzers and plugins become available by name.
//
// Nothing here knows about NATS or POP3: the same analyzer runs inside a
// pipeline worker and inside `mailsift scan`.
package analyzers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Analyzer inspects one message.
//
// Analyze returns an error when the analysis could not be done at all and
// trying again later may help (a scanner is down, a network call failed).
// The pipeline retries such errors with a growing delay and, after the last
// attempt, records them as a Result with StatusError; `mailsift scan` records
// them at once. A finding, including "this part is malformed", is a Result,
// not an error.
type Analyzer interface {
	Name() string
	Analyze(ctx context.Context, m *Message) (Result, error)
}

// Closer is implemented by analyzers that hold resources (connections,
// plugin processes) to release at shutdown.
type Closer interface {
	Close() error
}

// Status says whether an analyzer produced an answer. Anything but StatusOK
// means the message was not checked by that analyzer; it never reads as clean.
type Status string

const (
	StatusOK       Status = "ok"
	StatusError    Status = "error"
	StatusTimeout  Status = "timeout"
	StatusSkipped  Status = "skipped"  // not configured or not applicable; Error says why
	StatusDeferred Status = "deferred" // an external quota is spent; retried later
)

// Verdict is an analyzer's or a report's judgement of a message.
type Verdict string

const (
	VerdictClean      Verdict = "clean"
	VerdictSuspicious Verdict = "suspicious"
	VerdictMalicious  Verdict = "malicious"
	VerdictUnknown    Verdict = "unknown"
)

// Rank orders verdicts from harmless to harmful, so the worst of several can
// be chosen. Unknown sits between clean and suspicious: a failed check is
// worse than a clean one, but not evidence of harm.
func (v Verdict) Rank() int {
	switch v {
	case VerdictClean:
		return 0
	case VerdictUnknown:
		return 1
	case VerdictSuspicious:
		return 2
	case VerdictMalicious:
		return 3
	}
	return 1
}

// Symbol is one named finding, as rspamd reports them: a name, the score it
// adds, and options that say what exactly matched.
type Symbol struct {
	Name    string   `json:"name"`
	Score   float64  `json:"score"`
	Options []string `json:"options,omitempty"`
}

// Result is what one analyzer says about one message. Its JSON form is the
// element of a report's "results" list (schema mailsift.report/v1).
type Result struct {
	Analyzer   string          `json:"analyzer"`
	Status     Status          `json:"status"`
	Verdict    Verdict         `json:"verdict"`
	Score      float64         `json:"score"`
	Symbols    []Symbol        `json:"symbols,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS int64           `json:"duration_ms"`
}

// Add appends a symbol and adds its score to the result's score.
func (r *Result) Add(name string, score float64, options ...string) {
	r.Symbols = append(r.Symbols, Symbol{Name: name, Score: score, Options: options})
	r.Score += score
}

// SetData stores v as the result's data. Values an analyzer builds are plain
// structs, so a marshalling failure is a programming error worth surfacing.
func (r *Result) SetData(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.Data = b
	return nil
}

// Failed builds the result that stands for an analysis that did not happen.
func Failed(analyzer string, status Status, err error) Result {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return Result{Analyzer: analyzer, Status: status, Verdict: VerdictUnknown, Error: msg}
}

// Run calls a.Analyze with the bookkeeping every caller needs: the duration,
// the analyzer name, a verdict that is never empty, and a panic turned into
// an error result instead of a crashed process.
func Run(ctx context.Context, a Analyzer, m *Message) (res Result, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res = Failed(a.Name(), StatusError, panicError{p})
			err = nil
		}
		res.Analyzer = a.Name()
		res.DurationMS = time.Since(start).Milliseconds()
		if res.Verdict == "" {
			res.Verdict = VerdictUnknown
			if res.Status == StatusOK {
				res.Verdict = VerdictClean
			}
		}
	}()
	res, err = a.Analyze(ctx, m)
	if err == nil && res.Status == "" {
		res.Status = StatusOK
	}
	return res, err
}

type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("analyzer panicked: %v", p.v) }

// RunAll runs every analyzer over m at once and returns their results in
// the order given. An analyzer that fails or passes its timeout gives a
// result saying so; RunAll does not retry, which suits offline scanning. The
// pipeline has its own loop with retries.
func RunAll(ctx context.Context, as []Analyzer, m *Message, timeout time.Duration) []Result {
	out := make([]Result, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := Run(actx, a, m)
			if err != nil {
				st := StatusError
				if errors.Is(actx.Err(), context.DeadlineExceeded) {
					st = StatusTimeout
				}
				d := res.DurationMS
				res = Failed(a.Name(), st, err)
				res.DurationMS = d
			}
			out[i] = res
		}()
	}
	wg.Wait()
	return out
}
