// Package attachments is the built-in analyzer that judges a message's
// files by name and by hash: extensions that run code when opened, names
// that hide such an extension behind a harmless-looking one
// ("invoice.pdf.exe"), and files whose SHA-256 is on a list of known-bad
// files. It looks at every part, those of attached messages included.
package attachments

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
)

// Name is the analyzer's name in configs and reports.
const Name = "attachments"

// Symbols.
const (
	RiskyExtension  = "ATTACHMENT_RISKY_EXT"
	DoubleExtension = "ATTACHMENT_DOUBLE_EXT"
	KnownBad        = "ATTACHMENT_IOC"
)

// defaultScores make a risky extension alone suspicious and a known-bad
// hash malicious by score as well as by rule.
var defaultScores = map[string]float64{
	RiskyExtension:  5,
	DoubleExtension: 6,
	KnownBad:        20,
}

// defaultRiskyExtensions run code, or open a container that does, when a
// user double-clicks them on a common desktop.
var defaultRiskyExtensions = []string{
	"exe", "scr", "com", "pif", "cpl", "msi", "msp", "bat", "cmd", "ps1", "psm1",
	"vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "jar", "lnk", "scf", "reg",
	"chm", "iso", "img", "vhd", "vhdx", "appx", "msix", "one",
	"docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "sldm",
}

// decoyExtensions are what a double extension pretends to be.
var decoyExtensions = map[string]bool{
	"pdf": true, "doc": true, "docx": true, "xls": true, "xlsx": true, "ppt": true, "pptx": true,
	"odt": true, "ods": true, "rtf": true, "txt": true, "csv": true, "htm": true, "html": true,
	"xml": true, "jpg": true, "jpeg": true, "png": true, "gif": true, "bmp": true, "tif": true,
	"tiff": true, "mp3": true, "mp4": true, "wav": true, "avi": true, "mov": true,
	"zip": true, "rar": true, "7z": true, "eml": true, "msg": true, "ics": true,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// RiskyExtensions replaces the default list (see README.md); without the dot,
	// case-insensitive.
	RiskyExtensions []string `yaml:"risky_extensions"`
	// IOCFile lists known-bad files, one SHA-256 per line, optionally
	// followed by a comma and a name; '#' starts a comment.
	IOCFile string `yaml:"ioc_file"`
	// BuiltinTestIOC adds the EICAR test file, so the whole chain can be
	// checked end to end with a harmless file.
	BuiltinTestIOC bool `yaml:"builtin_test_ioc"`
	// Suspicious and Malicious are the score thresholds of the verdict;
	// 0 turns a level off. A known-bad hash is malicious regardless.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		RiskyExtensions: slices.Clone(defaultRiskyExtensions),
		BuiltinTestIOC:  true,
		Suspicious:      5,
		Malicious:       15,
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Doc:      "attachments with risky or double extensions, and files whose sha256 is on an indicator list",
		New: func(opts analyzers.Options) (analyzers.Analyzer, error) {
			cfg := DefaultConfig()
			if opts != nil {
				if err := opts.Decode(&cfg); err != nil {
					return nil, err
				}
			}
			return New(cfg)
		},
	})
}

// Analyzer checks attachments. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	scores map[string]float64
	risky  map[string]bool
	iocs   map[string]string // sha256 (lower-case hex) to name
}

// New builds the analyzer and loads its indicator file.
func New(cfg Config) (*Analyzer, error) {
	scores := maps.Clone(defaultScores)
	for k, v := range cfg.Scores {
		if _, ok := scores[k]; !ok {
			return nil, fmt.Errorf("scores: unknown symbol %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(defaultScores)), ", "))
		}
		scores[k] = v
	}
	a := &Analyzer{cfg: cfg, scores: scores, risky: map[string]bool{}, iocs: map[string]string{}}
	for _, ext := range cfg.RiskyExtensions {
		ext = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(ext), "."))
		if ext == "" {
			return nil, fmt.Errorf("risky_extensions: empty extension")
		}
		a.risky[ext] = true
	}
	if cfg.BuiltinTestIOC {
		a.iocs[eicarSHA256] = "EICAR-Test-File"
	}
	if cfg.IOCFile != "" {
		if err := loadIOCs(cfg.IOCFile, a.iocs); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// eicarSHA256 is the hash of the 68-byte EICAR anti-virus test file.
const eicarSHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

func (a *Analyzer) Name() string { return Name }

// Attachment describes one file in the result's data, in the shape of the
// report's artifacts.
type Attachment struct {
	Part        string `json:"part"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Match is one part whose hash is on the indicator list.
type Match struct {
	Part     string `json:"part"`
	Filename string `json:"filename,omitempty"`
	SHA256   string `json:"sha256"`
	Name     string `json:"name"`
}

// Data is what the analyzer reports in a result's data.
type Data struct {
	Attachments []Attachment `json:"attachments"`
	Matches     []Match      `json:"matches"`
}

// Analyze never fails: everything it needs is in the message.
func (a *Analyzer) Analyze(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var r analyzers.Result
	d := Data{Attachments: []Attachment{}, Matches: []Match{}}
	var risky, double, bad []string
	seen := map[string]bool{}
	var visit func(m *analyzers.Message)
	visit = func(m *analyzers.Message) {
		for i := range m.Parts {
			p := &m.Parts[i]
			// Parse lists an attached message's parts in the outer
			// message too; a Message built another way may not.
			key := p.Path + "\x00" + p.SHA256
			if seen[key] {
				continue
			}
			seen[key] = true
			if name, ok := a.iocs[strings.ToLower(p.SHA256)]; ok {
				d.Matches = append(d.Matches, Match{Part: p.Path, Filename: p.Filename, SHA256: p.SHA256, Name: name})
				if !slices.Contains(bad, name) {
					bad = append(bad, name)
				}
			}
			if p.Attachment {
				d.Attachments = append(d.Attachments, Attachment{Part: p.Path, Filename: p.Filename, ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256})
			}
			if p.Filename == "" {
				continue
			}
			exts := extensions(p.Filename)
			if len(exts) == 0 || !a.risky[exts[0]] {
				continue
			}
			risky = append(risky, p.Filename)
			if len(exts) > 1 && decoyExtensions[exts[1]] {
				double = append(double, p.Filename)
			}
		}
		for _, n := range m.Nested {
			visit(n)
		}
	}
	visit(m)

	if len(risky) > 0 {
		r.Add(RiskyExtension, a.scores[RiskyExtension], risky...)
	}
	if len(double) > 0 {
		r.Add(DoubleExtension, a.scores[DoubleExtension], double...)
	}
	if len(bad) > 0 {
		r.Add(KnownBad, a.scores[KnownBad], bad...)
	}
	switch {
	case len(bad) > 0, a.cfg.Malicious > 0 && r.Score >= a.cfg.Malicious:
		r.Verdict = analyzers.VerdictMalicious
	case a.cfg.Suspicious > 0 && r.Score >= a.cfg.Suspicious:
		r.Verdict = analyzers.VerdictSuspicious
	default:
		r.Verdict = analyzers.VerdictClean
	}
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

// extensions returns a file name's extensions, last first, lower case:
// "Invoice.PDF.exe" gives [exe pdf]. Windows ignores trailing dots and
// blanks, and so does this, since attackers pad names with them to push
// the real extension out of sight.
func extensions(filename string) []string {
	name := filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToLower(strings.TrimRight(name, ". \t"))
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return nil
	}
	var out []string
	for i := len(parts) - 1; i >= 1 && len(out) < 2; i-- {
		out = append(out, strings.TrimSpace(parts[i]))
	}
	return out
}
