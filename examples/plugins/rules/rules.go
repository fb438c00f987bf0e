// Package rules is an example mailsift plugin: a team's own keyword rules,
// kept in a YAML file of theirs, mapped to tags and scores. A rule names
// keywords and where to look for them (subject, body, sender); every rule
// that matches adds a symbol with its score, and its tag to the result's
// data, so a support team can route "refund" mail or raise "outage" mail
// without touching mailsift.
//
// The analyzer is an ordinary analyzers.Analyzer; cmd/mailsift-rules serves
// it as a plugin with plugins/sdk.
package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/text"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/plugins/sdk"
)

// Version is the plugin's version, reported by Describe.
const Version = "1.0.0"

// Where a rule looks.
const (
	InSubject = "subject"
	InBody    = "body" // the sender's own words: quoted history and signatures cut
	InFrom    = "from" // the sender's display names and addresses
)

// File is the rules file.
type File struct {
	Rules []Rule `yaml:"rules"`
	// Suspicious and Malicious are score thresholds for the verdict; 0
	// turns a level off, and with both off every answer is "clean": the
	// rules label mail, they do not judge it.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
}

// Rule maps keywords to a symbol, a tag and a score.
type Rule struct {
	// Name is the symbol in reports: capital letters, digits and '_'.
	Name string `yaml:"name"`
	// Keywords match case-insensitively as whole words (or phrases).
	Keywords []string `yaml:"keywords"`
	// In lists where to look: subject, body, from. Default: subject, body.
	In    []string `yaml:"in"`
	Tag   string   `yaml:"tag"`
	Score float64  `yaml:"score"`
}

var symbolName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Load reads and checks a rules file.
func Load(path string) (*Analyzer, error) {
	var f File
	if err := config.Load(path, &f); err != nil {
		return nil, err
	}
	a, err := New(f)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	return a, nil
}

// Analyzer applies a rules file. It is safe for concurrent use.
type Analyzer struct {
	file  File
	rules []compiled
	in    map[string]bool // where any rule looks
}

type compiled struct {
	Rule
	keywords []string // lower case
	in       map[string]bool
}

// New checks the rules and builds the analyzer.
func New(f File) (*Analyzer, error) {
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	a := &Analyzer{file: f, in: map[string]bool{}}
	seen := map[string]bool{}
	for i, r := range f.Rules {
		if !symbolName.MatchString(r.Name) {
			return nil, fmt.Errorf("rule %d: name %q: want capital letters, digits and '_', starting with a letter", i+1, r.Name)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rule %s: name used twice", r.Name)
		}
		seen[r.Name] = true
		c := compiled{Rule: r, in: map[string]bool{}}
		if len(r.In) == 0 {
			c.In = []string{InSubject, InBody}
		}
		for _, w := range c.In {
			if w != InSubject && w != InBody && w != InFrom {
				return nil, fmt.Errorf("rule %s: in %q: want subject, body or from", r.Name, w)
			}
			c.in[w] = true
			a.in[w] = true
		}
		for _, k := range r.Keywords {
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				return nil, fmt.Errorf("rule %s: empty keyword", r.Name)
			}
			c.keywords = append(c.keywords, k)
		}
		if len(c.keywords) == 0 {
			return nil, fmt.Errorf("rule %s: no keywords", r.Name)
		}
		a.rules = append(a.rules, c)
	}
	return a, nil
}

// Name is the analyzer's own name; the config may run it under another.
func (a *Analyzer) Name() string { return "rules" }

// Describe tells mailsift what the plugin needs: the parsed view is enough,
// since the rules read the subject, the sender and the bodies' text.
func (a *Analyzer) Describe() sdk.Description {
	return sdk.Description{
		Version: Version,
		Doc:     "a team's keyword rules mapped to tags and scores",
		Needs:   sdk.Parsed,
	}
}

// Match is one keyword found.
type Match struct {
	Rule    string `json:"rule"`
	In      string `json:"in"`
	Keyword string `json:"keyword"`
}

// Data is the result's data.
type Data struct {
	Tags    []string `json:"tags"`
	Matches []Match  `json:"matches"`
}

// Analyze applies every rule.
func (a *Analyzer) Analyze(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
	// Only what some rule reads is extracted: the body's own words take
	// the most work.
	where := map[string]string{}
	if a.in[InSubject] {
		where[InSubject] = strings.ToLower(m.Header.Subject)
	}
	if a.in[InBody] {
		where[InBody] = strings.ToLower(text.FromMessage(m).Text)
	}
	if a.in[InFrom] {
		where[InFrom] = strings.ToLower(fromText(m))
	}
	var res analyzers.Result
	data := Data{Tags: []string{}, Matches: []Match{}}
	for _, r := range a.rules {
		var found []string
		for _, w := range []string{InSubject, InBody, InFrom} {
			if !r.in[w] {
				continue
			}
			for _, k := range r.keywords {
				if containsWord(where[w], k) {
					data.Matches = append(data.Matches, Match{Rule: r.Name, In: w, Keyword: k})
					if !slices.Contains(found, k) {
						found = append(found, k)
					}
				}
			}
		}
		if len(found) == 0 {
			continue
		}
		res.Add(r.Name, r.Score, found...)
		if r.Tag != "" && !slices.Contains(data.Tags, r.Tag) {
			data.Tags = append(data.Tags, r.Tag)
		}
	}
	slices.Sort(data.Tags)
	res.Verdict = analyzers.VerdictClean
	switch {
	case a.file.Malicious > 0 && res.Score >= a.file.Malicious:
		res.Verdict = analyzers.VerdictMalicious
	case a.file.Suspicious > 0 && res.Score >= a.file.Suspicious:
		res.Verdict = analyzers.VerdictSuspicious
	}
	if err := res.SetData(data); err != nil {
		return analyzers.Result{}, err
	}
	return res, nil
}

func fromText(m *analyzers.Message) string {
	var b strings.Builder
	for _, a := range m.Header.From {
		b.WriteString(a.Name)
		b.WriteByte(' ')
		b.WriteString(a.Address)
		b.WriteByte('\n')
	}
	return b.String()
}

// containsWord reports whether s holds kw with no letter or digit right
// before or after it, so "refund" matches "a refund?" but not "refunded".
func containsWord(s, kw string) bool {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], kw)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(kw)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		off = start + size
	}
	return false
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// DefaultPath is where the plugin looks for its rules without -rules: a
// rules.yaml beside its executable.
func DefaultPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "rules.yaml"
	}
	return filepath.Join(filepath.Dir(exe), "rules.yaml")
}
