// Package mime is the built-in analyzer that reports how well a message
// parsed. It is the one place that speaks for Message.Problems: a part
// that could not be decoded was not really checked by anyone, so this
// analyzer returns an error result naming each such part, and the report
// cannot read as clean. Header problems (a broken address, an unreadable
// Date) leave every part checkable and only add a symbol.
package mime

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
)

// Name is the analyzer's name in configs and reports.
const Name = "mime"

// Symbols.
const (
	BadHeader     = "MIME_BAD_HEADER"
	BadPart       = "MIME_BAD_PART"
	DeepNesting   = "MIME_DEEP_NESTING"
	PartTruncated = "MIME_PART_TRUNCATED"
)

// defaultScores keep malformation from weighing much on its own: broken
// mail is mostly sloppy, not hostile. The error status is what matters.
var defaultScores = map[string]float64{
	BadHeader:     1,
	BadPart:       1,
	DeepNesting:   3,
	PartTruncated: 0,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// NestingDepth is the deepest part path ("2.1.3" is 3) that is not yet
	// MIME_DEEP_NESTING. Mail clients stay within 4 or 5; nesting is a
	// classic way to tire or slip past scanners.
	NestingDepth int `yaml:"nesting_depth"`
	// Suspicious is the score threshold of the suspicious verdict; 0 turns
	// it off.
	Suspicious float64 `yaml:"suspicious"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{NestingDepth: 10, Suspicious: 5}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Doc:      "MIME structure: an error naming each part that could not be decoded, deep nesting, bad headers",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
	})
}

// Analyzer checks MIME structure. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	scores map[string]float64
}

// New builds the analyzer.
func New(cfg Config) (*Analyzer, error) {
	if cfg.NestingDepth < 1 {
		return nil, fmt.Errorf("nesting_depth %d: want at least 1", cfg.NestingDepth)
	}
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	return &Analyzer{cfg: cfg, scores: scores}, nil
}

func (a *Analyzer) Name() string { return Name }

// Problem is one malformed place, with what the part is, in the result's
// data.
type Problem struct {
	Part        string `json:"part"`
	ContentType string `json:"content_type,omitempty"`
	Filename    string `json:"filename,omitempty"`
	Error       string `json:"error"`
}

// Data is what the analyzer reports in a result's data.
type Data struct {
	Parts    int       `json:"parts"`
	Depth    int       `json:"depth"`
	Problems []Problem `json:"problems"`
}

// Analyze never fails itself; a malformed message is a finding, reported
// as a result with StatusError, not as an error to retry.
func (a *Analyzer) Analyze(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var r analyzers.Result
	d := Data{Parts: len(m.Parts), Problems: []Problem{}}

	parts := make(map[string]*analyzers.Part, len(m.Parts))
	var deepest string
	var truncated []string
	for i := range m.Parts {
		p := &m.Parts[i]
		parts[p.Path] = p
		if depth := strings.Count(p.Path, ".") + 1; depth > d.Depth {
			d.Depth, deepest = depth, p.Path
		}
		if p.Truncated {
			truncated = append(truncated, p.Path)
		}
	}

	var headerErrs []string
	var failed []Problem // content problems, one per part, errors joined
	for _, pr := range m.Problems {
		dp := Problem{Part: pr.Part, Error: pr.Err}
		if p := parts[pr.Part]; p != nil {
			dp.ContentType, dp.Filename = p.ContentType, p.Filename
		}
		d.Problems = append(d.Problems, dp)
		switch i := slices.IndexFunc(failed, func(f Problem) bool { return f.Part == pr.Part }); {
		case isHeader(pr.Part):
			headerErrs = append(headerErrs, pr.Part+": "+pr.Err)
		case i >= 0:
			failed[i].Error += "; " + pr.Err
		default:
			failed = append(failed, dp)
		}
	}

	if len(headerErrs) > 0 {
		r.Add(BadHeader, a.scores[BadHeader], headerErrs...)
	}
	if len(failed) > 0 {
		var where []string
		for _, f := range failed {
			where = append(where, f.Part)
		}
		r.Add(BadPart, a.scores[BadPart], where...)
	}
	if d.Depth > a.cfg.NestingDepth {
		r.Add(DeepNesting, a.scores[DeepNesting], fmt.Sprintf("depth %d at part %s", d.Depth, deepest))
	}
	if len(truncated) > 0 {
		r.Add(PartTruncated, a.scores[PartTruncated], truncated...)
	}

	if err := r.SetData(d); err != nil {
		return r, err
	}
	if len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = describe(f)
		}
		r.Status = analyzers.StatusError
		r.Verdict = analyzers.VerdictUnknown
		r.Error = strings.Join(msgs, "; ")
		return r, nil
	}
	r.Verdict = analyzers.ScoreVerdict(r.Score, a.cfg.Suspicious, 0)
	return r, nil
}

// isHeader reports whether a problem is in a header block: "header" for
// the message's own, "2.header" for one attached as part 2.
func isHeader(part string) bool {
	return part == "header" || strings.HasSuffix(part, ".header")
}

// describe says which part failed the way a person looks for it in a mail
// client: `part 2 (application/pdf, "report.pdf"): illegal base64 ...`.
func describe(p Problem) string {
	var b strings.Builder
	if p.Part == "message" {
		b.WriteString("message")
	} else {
		b.WriteString("part ")
		b.WriteString(p.Part)
	}
	switch {
	case p.ContentType != "" && p.Filename != "":
		fmt.Fprintf(&b, " (%s, %q)", p.ContentType, p.Filename)
	case p.ContentType != "":
		fmt.Fprintf(&b, " (%s)", p.ContentType)
	}
	b.WriteString(": ")
	b.WriteString(p.Error)
	return b.String()
}
