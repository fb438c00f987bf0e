package attachments

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

type entry = archivetest.Entry

func sha(s string) string {
	return file("", "", s).SHA256
}

func typed(path, name, contentType string, content []byte) analyzers.Part {
	p := file(path, name, string(content))
	p.ContentType = contentType
	return p
}

// TestContent covers the checks that read a file's bytes: sniffed types,
// macros, and what is inside archives.
func TestContent(t *testing.T) {
	pe := []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")
	logs := archivetest.Tar(entry{Name: "app.log", Content: []byte("GET /checkout 500\n")})
	tests := []struct {
		name    string
		part    analyzers.Part
		symbols map[string][]string
		verdict analyzers.Verdict
	}{
		{
			name:    "program under a photo's name",
			part:    typed("2", "photo.jpg", "image/jpeg", pe),
			symbols: map[string][]string{DisguisedExe: {"photo.jpg: application/vnd.microsoft.portable-executable"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "program without a name",
			part:    typed("2", "", "application/octet-stream", pe),
			symbols: map[string][]string{DisguisedExe: {"part 2: application/vnd.microsoft.portable-executable"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "program named as one is only a risky extension",
			part:    typed("2", "setup.exe", "application/octet-stream", pe),
			symbols: map[string][]string{RiskyExtension: {"setup.exe"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "zip named as a pdf",
			part:    typed("2", "statement.pdf", "application/pdf", archivetest.Zip(entry{Name: "a.txt", Content: []byte("hi")})),
			symbols: map[string][]string{TypeMismatch: {"statement.pdf: named .pdf, content is application/zip"}},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "html declared as a pdf",
			part:    typed("2", "", "application/pdf", []byte("<html><body><form action=x>Sign in</form></body></html>")),
			symbols: map[string][]string{TypeMismatch: {"part 2: declared application/pdf, content is text/html"}},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "plain text under any name is no mismatch",
			part:    typed("2", "notes.pdf", "application/pdf", []byte("just some notes\n")),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "png declared as jpeg is the same family",
			part:    typed("2", "photo.jpg", "image/jpeg", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "docx without macros",
			part:    typed("2", "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", archivetest.OOXML(false)),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "macros in a file named docx",
			part:    typed("2", "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", archivetest.OOXML(true)),
			symbols: map[string][]string{Macros: {"report.docx"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "macros in an old-style doc",
			part:    typed("2", "minutes.doc", "application/msword", archivetest.OLE(true)),
			symbols: map[string][]string{Macros: {"minutes.doc"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "old-style doc without macros",
			part:    typed("2", "minutes.doc", "application/msword", archivetest.OLE(false)),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name: "macro document inside a zip",
			part: typed("2", "cv.zip", "application/zip", archivetest.Zip(entry{Name: "CV.docm", Content: archivetest.OOXML(true)})),
			symbols: map[string][]string{
				RiskyExtension: {"cv.zip!/CV.docm"}, Macros: {"cv.zip!/CV.docm"},
			},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "encrypted zip hiding a program",
			part:    typed("2", "invoice.zip", "application/zip", archivetest.Zip(entry{Name: "invoice.pdf.exe", Content: pe, Password: "4471"})),
			symbols: map[string][]string{RiskyExtension: {"invoice.zip!/invoice.pdf.exe"}, DoubleExtension: {"invoice.zip!/invoice.pdf.exe"}, EncryptedArchive: {"invoice.zip"}},
			verdict: analyzers.VerdictMalicious,
		},
		{
			name:    "double extension inside a tar.gz",
			part:    typed("2", "scan.tgz", "application/gzip", archivetest.Gzip("", archivetest.Tar(entry{Name: "scan.jpg.scr", Content: pe}))),
			symbols: map[string][]string{RiskyExtension: {"scan.tgz!/scan.tar!/scan.jpg.scr"}, DoubleExtension: {"scan.tgz!/scan.tar!/scan.jpg.scr"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "program disguised inside a zip",
			part:    typed("2", "photos.zip", "application/zip", archivetest.Zip(entry{Name: "IMG_0412.jpg", Content: pe})),
			symbols: map[string][]string{DisguisedExe: {"photos.zip!/IMG_0412.jpg: application/vnd.microsoft.portable-executable"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "eicar inside a zip inside a zip",
			part:    typed("2", "bundle.zip", "application/zip", archivetest.Nested(2, "eicar.txt", archivetest.EICAR())),
			symbols: map[string][]string{KnownBad: {"EICAR-Test-File"}},
			verdict: analyzers.VerdictMalicious,
		},
		{
			name:    "ratio bomb",
			part:    typed("2", "backup.zip", "application/zip", archivetest.Bomb("disk.img.txt", 8<<20)),
			symbols: map[string][]string{ArchiveBomb: {"backup.zip!/disk.img.txt: expands more than 100 times (1081344 bytes from 8161 so far); not read further"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "nesting bomb",
			part:    typed("2", "deep.zip", "application/zip", archivetest.Nested(7, "x.txt", []byte("x"))),
			symbols: map[string][]string{ArchiveBomb: {"deep.zip!/level-6.zip!/level-5.zip!/level-4.zip!/level-3.zip!/level-2.zip: archive nested deeper than 5 levels; not opened"}},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "damaged zip",
			part:    typed("2", "logs.zip", "application/zip", archivetest.Zip(entry{Name: "a.log", Content: []byte("x")})[:40]),
			symbols: map[string][]string{ArchiveUnchecked: {"logs.zip: zip: zip: not a valid zip file"}},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "logs in a tar.gz",
			part:    typed("2", "logs.tar.gz", "application/gzip", archivetest.Gzip("", logs)),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
	}
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	body := analyzers.Part{Path: "1", ContentType: "text/plain"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := analyzers.Run(context.Background(), a, message(body, tt.part))
			if err != nil {
				t.Fatal(err)
			}
			got := symbols(r)
			if len(got) != len(tt.symbols) {
				t.Errorf("symbols = %q, want %q", got, tt.symbols)
			}
			for name, opts := range tt.symbols {
				if !slices.Equal(got[name], opts) {
					t.Errorf("%s options = %q, want %q", name, got[name], opts)
				}
			}
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s (score %v), want %s", r.Verdict, r.Score, tt.verdict)
			}
		})
	}
}

func TestArchiveData(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	zip := archivetest.Zip(entry{Name: "logs/app.log", Content: []byte("ok\n")}, entry{Name: "eicar.com", Content: archivetest.EICAR()}, entry{Name: "secret.txt", Content: []byte("s"), Password: "pw"})
	r, err := a.Analyze(context.Background(), message(typed("2", "logs.zip", "application/zip", zip)))
	if err != nil {
		t.Fatal(err)
	}
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	arc := d.Attachments[0].Archive
	if arc == nil || arc.Format != "zip" || len(arc.Files) != 3 {
		t.Fatalf("archive data = %+v", arc)
	}
	want := []ArchiveFile{
		{Path: "logs.zip!/logs/app.log", Size: 3, SHA256: sha("ok\n"), SniffedType: "text/plain"},
		{Path: "logs.zip!/eicar.com", Size: 68, SHA256: archivetest.EICARSHA256, SniffedType: "text/plain"},
		{Path: "logs.zip!/secret.txt", Size: 1, Encrypted: true},
	}
	if !slices.Equal(arc.Files, want) {
		t.Errorf("files:\n got %+v\nwant %+v", arc.Files, want)
	}
	if len(arc.Issues) != 1 || arc.Issues[0].Kind != archive.Encrypted {
		t.Errorf("issues = %+v", arc.Issues)
	}
	if len(d.Matches) != 1 || d.Matches[0].Filename != "logs.zip!/eicar.com" || d.Matches[0].Part != "2" {
		t.Errorf("matches = %+v", d.Matches)
	}
	if !strings.Contains(string(r.Data), `"sniffed_type":"application/zip"`) {
		t.Errorf("data lacks the attachment's sniffed type: %s", r.Data)
	}
}

func TestArchiveLimitsFromConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Archives.MaxFiles = 1
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	zip := archivetest.Zip(entry{Name: "a.txt", Content: []byte("a")}, entry{Name: "b.exe", Content: []byte("b")})
	r, _ := a.Analyze(context.Background(), message(typed("2", "x.zip", "application/zip", zip)))
	got := symbols(r)
	if _, ok := got[ArchiveUnchecked]; !ok || got[RiskyExtension] != nil {
		t.Errorf("with max_files 1: %v; want the second file unlisted and said so", got)
	}
}
