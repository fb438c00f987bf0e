// Package attachments is the built-in analyzer that judges a message's
// files by name, by content and by hash: extensions that run code when
// opened, names that hide such an extension behind a harmless-looking one
// ("invoice.pdf.exe"), content whose sniffed type contradicts its name or
// declared type, Office files with macros, encrypted archives, archive
// bombs, and files whose SHA-256 is on a list of known-bad files. It looks
// at every part, those of attached messages included, and at every file
// inside the archives it opens (see package archive).
package attachments

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gabriel-vasile/mimetype"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive"
)

// Name is the analyzer's name in configs and reports.
const Name = "attachments"

// Symbols.
const (
	RiskyExtension   = "ATTACHMENT_RISKY_EXT"
	DoubleExtension  = "ATTACHMENT_DOUBLE_EXT"
	KnownBad         = "ATTACHMENT_IOC"
	DisguisedExe     = "ATTACHMENT_DISGUISED_EXE"
	TypeMismatch     = "ATTACHMENT_TYPE_MISMATCH"
	Macros           = "ATTACHMENT_MACRO"
	EncryptedArchive = "ATTACHMENT_ENCRYPTED_ARCHIVE"
	ArchiveBomb      = "ATTACHMENT_ARCHIVE_BOMB"
	ArchiveUnchecked = "ATTACHMENT_ARCHIVE_UNCHECKED"
)

// defaultScores make a risky extension alone suspicious and a known-bad
// hash malicious by score as well as by rule. A program under a harmless
// name, a bomb, an archive nobody can open without a password in the
// mail's text: each is suspicious alone. A type mismatch alone is not,
// since mail clients get types wrong; it adds weight to other signs.
var defaultScores = map[string]float64{
	RiskyExtension:   5,
	DoubleExtension:  6,
	KnownBad:         20,
	DisguisedExe:     8,
	TypeMismatch:     3,
	Macros:           5,
	EncryptedArchive: 5,
	ArchiveBomb:      10,
	ArchiveUnchecked: 1,
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
	// Archives bounds the opening of archives: depth, files, bytes and
	// compression ratio.
	Archives archive.Limits `yaml:"archives"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		RiskyExtensions: slices.Clone(defaultRiskyExtensions),
		BuiltinTestIOC:  true,
		Suspicious:      5,
		Malicious:       15,
		Archives:        archive.DefaultLimits(),
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Doc:      "risky, disguised and macro-enabled files, encrypted archives and bombs, known-bad sha256, inside archives too",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
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
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
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
// report's artifacts plus what the analyzer learnt from its content.
type Attachment struct {
	Part        string `json:"part"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	// SniffedType is the media type told by the content, not the name.
	SniffedType string `json:"sniffed_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Macros      bool   `json:"macros,omitempty"`
	// Archive lists what was found inside, when the file is an archive.
	Archive *Archive `json:"archive,omitempty"`
}

// Archive is what the walker found inside one attachment.
type Archive struct {
	Format string          `json:"format"`
	Files  []ArchiveFile   `json:"files"`
	Issues []archive.Issue `json:"issues"`
}

// ArchiveFile is one file inside an archive.
type ArchiveFile struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	SniffedType string `json:"sniffed_type,omitempty"`
	Encrypted   bool   `json:"encrypted,omitempty"`
	Macros      bool   `json:"macros,omitempty"`
}

// Match is one file whose hash is on the indicator list: a part, or a file
// inside one (Filename is then its path in the archive).
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

// findings collects symbol options while a message is walked; each symbol
// is added once, with every file that raised it.
type findings struct {
	order []string
	opts  map[string][]string
}

func (f *findings) add(symbol, option string) {
	if f.opts == nil {
		f.opts = map[string][]string{}
	}
	if _, ok := f.opts[symbol]; !ok {
		f.order = append(f.order, symbol)
	}
	if !slices.Contains(f.opts[symbol], option) {
		f.opts[symbol] = append(f.opts[symbol], option)
	}
}

// Analyze never fails: everything it needs is in the message.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var r analyzers.Result
	d := Data{Attachments: []Attachment{}, Matches: []Match{}}
	var f findings
	seen := map[string]bool{}
	var visit func(m *analyzers.Message) error
	visit = func(m *analyzers.Message) error {
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
				f.add(KnownBad, name)
			}
			if !p.Attachment {
				continue
			}
			att, err := a.attachment(ctx, p, &d, &f)
			if err != nil {
				return err
			}
			d.Attachments = append(d.Attachments, att)
		}
		for _, n := range m.Nested {
			if err := visit(n); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(m); err != nil {
		return analyzers.Result{}, err
	}

	for _, sym := range []string{RiskyExtension, DoubleExtension, DisguisedExe, TypeMismatch, Macros, EncryptedArchive, ArchiveBomb, ArchiveUnchecked, KnownBad} {
		if opts, ok := f.opts[sym]; ok {
			r.Add(sym, a.scores[sym], opts...)
		}
	}
	r.Verdict = analyzers.ScoreVerdict(r.Score, a.cfg.Suspicious, a.cfg.Malicious)
	if len(f.opts[KnownBad]) > 0 {
		r.Verdict = analyzers.VerdictMalicious
	}
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

// attachment judges one file part and the files inside it.
func (a *Analyzer) attachment(ctx context.Context, p *analyzers.Part, d *Data, f *findings) (Attachment, error) {
	mt := sniff(p.Content)
	att := Attachment{Part: p.Path, Filename: p.Filename, ContentType: p.ContentType, SniffedType: mediaType(mt), Size: p.Size, SHA256: p.SHA256}
	label := p.Filename
	if label == "" {
		label = "part " + p.Path
	}
	isMessage := p.ContentType == "message/rfc822" || p.ContentType == "message/global"
	att.Macros = a.file(label, p.Filename, p.ContentType, p.Content, mt, f)
	if isMessage || p.Truncated {
		// An attached message's parts are judged as parts; a truncated
		// part cannot be opened whole.
		return att, nil
	}
	if archive.Detect(p.Content) == "" || sniffedFamily(mt) == famOffice {
		// Office files are zips whose parts are the document.
		return att, nil
	}
	arc := &Archive{Files: []ArchiveFile{}}
	sum, err := archive.Walk(ctx, label, p.Content, a.cfg.Archives, func(af *archive.File) error {
		entry := ArchiveFile{Path: af.Path, Size: af.Size, SHA256: af.SHA256, Encrypted: af.Encrypted}
		if !af.Encrypted {
			amt := sniff(af.Content)
			entry.SniffedType = mediaType(amt)
			if name, ok := a.iocs[af.SHA256]; ok {
				d.Matches = append(d.Matches, Match{Part: p.Path, Filename: af.Path, SHA256: af.SHA256, Name: name})
				f.add(KnownBad, name)
			}
			entry.Macros = a.file(af.Path, af.Name, "", af.Content, amt, f)
		} else {
			a.names(af.Path, af.Name, f)
		}
		arc.Files = append(arc.Files, entry)
		return nil
	})
	if err != nil {
		return att, err
	}
	if sum.Format == "" {
		return att, nil
	}
	arc.Format = string(sum.Format)
	arc.Issues = sum.Issues
	for _, is := range sum.Issues {
		switch is.Kind {
		case archive.Encrypted:
			f.add(EncryptedArchive, label)
		case archive.Bomb:
			f.add(ArchiveBomb, is.Path+": "+is.Detail)
		default:
			f.add(ArchiveUnchecked, is.Path+": "+is.Detail)
		}
	}
	att.Archive = arc
	return att, nil
}

// file runs the checks that apply to any file, a part or a file inside an
// archive: its name, its content against its name and declared type, and
// macros. label names it in symbol options. It reports whether the file
// carries macros.
func (a *Analyzer) file(label, name, declared string, content []byte, mt *mimetype.MIME, f *findings) bool {
	risky := a.names(label, name, f)
	got := sniffedFamily(mt)
	var ext string
	if exts := extensions(name); len(exts) > 0 {
		ext = exts[0]
	}
	switch {
	case got == famExecutable && !risky && extFamilies[ext] != famExecutable:
		f.add(DisguisedExe, fmt.Sprintf("%s: %s", label, mediaType(mt)))
	case mt.Is("text/plain"):
		// Plain text hides nothing under any name; HTML or a script
		// does, and sniffs as more than text/plain.
	case !compatible(got, extFamilies[ext]):
		f.add(TypeMismatch, fmt.Sprintf("%s: named .%s, content is %s", label, ext, mediaType(mt)))
	case !compatible(got, declaredFamily(declared)):
		f.add(TypeMismatch, fmt.Sprintf("%s: declared %s, content is %s", label, declared, mediaType(mt)))
	}
	if (got == famOffice || got == famArchive) && hasMacros(content) {
		f.add(Macros, label)
		return true
	}
	return false
}

// names checks a file name's extensions and reports whether the last one
// is risky.
func (a *Analyzer) names(label, name string, f *findings) bool {
	exts := extensions(name)
	if len(exts) == 0 || !a.risky[exts[0]] {
		return false
	}
	f.add(RiskyExtension, label)
	if len(exts) > 1 && decoyExtensions[exts[1]] {
		f.add(DoubleExtension, label)
	}
	return true
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
