package attachments

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus from the generator")

// corpusDir holds the labeled malware corpus shared by the attachments,
// clamav and virustotal tests and by `mailsift scan`.
const corpusDir = "testdata/corpus"

// TestCorpus runs the analyzer over the labeled corpus and fails on any
// verdict that differs from the attachments column of expected.tsv.
func TestCorpus(t *testing.T) {
	if *update {
		writeCorpus(t)
	}
	want := readExpected(t, filepath.Join(corpusDir, "expected.tsv"), "attachments")
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, verdict := range want {
		raw, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := analyzers.Run(context.Background(), a, m)
		if err != nil || r.Status != analyzers.StatusOK {
			t.Errorf("%s: status %s, err %v", name, r.Status, err)
		}
		if r.Verdict != verdict {
			t.Errorf("%s: verdict %s (score %v, %v), want %s", name, r.Verdict, r.Score, r.Symbols, verdict)
		}
	}
}

// readExpected reads one column of expected.tsv: file name to verdict.
func readExpected(t *testing.T, path, column string) map[string]analyzers.Verdict {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]analyzers.Verdict{}
	col := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimPrefix(sc.Text(), "# "), "\t")
		if col < 0 {
			for i, h := range fields {
				if h == column {
					col = i
				}
			}
			if col < 0 {
				t.Fatalf("%s: no column %s in %q", path, column, fields)
			}
			continue
		}
		out[fields[0]] = analyzers.Verdict(fields[col])
	}
	if len(out) == 0 {
		t.Fatalf("%s: no messages", path)
	}
	return out
}

// corpusFile is one generated message and its expected verdicts.
type corpusFile struct {
	name                                     string
	attachments, clamav, virustotal, verdict analyzers.Verdict
	raw                                      []byte
}

// Contents the virustotal tests' local API server and the clamav tests'
// signature database know; see testdata/corpus/README.md.
var (
	vtKnownBad    = []byte("%PDF-1.4\n% mailsift corpus: a file the test VirusTotal server reports as malicious\n%%EOF\n")
	vtFewEngines  = []byte("%PDF-1.4\n% mailsift corpus: a file two engines of the test VirusTotal server flag\n%%EOF\n")
	clamavMarker  = "MAILSIFT-CLAMAV-CORPUS-MARKER"
	cleanPDF      = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	peHeader      = []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8\x00\x00\x00\x00\x00\x00\x00@\x00")
	corpusLetter  = "Hello,\r\n\r\nplease find the files attached.\r\n\r\nRegards,\r\nDana\r\n"
	corpusMessage = 0
)

type att struct {
	name, ctype string
	content     []byte
}

// mail builds a message with a text body and the given attachments.
func mail(subject, body string, atts ...att) []byte {
	corpusMessage++
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Dana Reyes <dana@customer.example>\r\nTo: support@brightlane.example\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\nDate: Fri, 20 Nov 2026 09:%02d:00 +0000\r\n", subject, corpusMessage)
	fmt.Fprintf(&b, "Message-ID: <corpus-%02d@customer.example>\r\nMIME-Version: 1.0\r\n", corpusMessage)
	if len(atts) == 0 {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s", body)
		return b.Bytes()
	}
	boundary := fmt.Sprintf("corpus-boundary-%02d", corpusMessage)
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", boundary, body)
	for _, a := range atts {
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		if a.ctype == "message/rfc822" {
			fmt.Fprintf(&b, "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n%s\r\n", a.content)
			continue
		}
		fmt.Fprintf(&b, "Content-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", a.ctype, a.name, a.name)
		enc := base64.StdEncoding.EncodeToString(a.content)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

func corpus() []corpusFile {
	corpusMessage = 0
	e := archivetest.EICAR()
	type entry = archivetest.Entry
	const (
		C = analyzers.VerdictClean
		S = analyzers.VerdictSuspicious
		M = analyzers.VerdictMalicious
	)
	logs := archivetest.Gzip("", archivetest.Tar(entry{Name: "app.log", Content: []byte("09:10 POST /checkout 502 upstream timed out\n")}))
	forwarded := mail("Photos from the trip", "See the archive.", att{"trip.zip", "application/zip", archivetest.Zip(entry{Name: "readme.txt", Content: []byte("photos follow")}, entry{Name: "eicar.com", Content: e})})
	return []corpusFile{
		{"01-clean-letter.eml", C, C, C, C, mail("Question about my order", corpusLetter)},
		{"02-clean-pdf-and-logs.eml", C, C, C, C, mail("Invoice and logs", corpusLetter, att{"invoice.pdf", "application/pdf", cleanPDF}, att{"logs.tar.gz", "application/gzip", logs})},
		{"03-eicar-plain.eml", M, M, M, M, mail("Scanner drill", corpusLetter, att{"eicar.com", "application/octet-stream", e})},
		{"04-eicar-in-zip.eml", M, M, M, M, mail("Documents", corpusLetter, att{"documents.zip", "application/zip", archivetest.Zip(entry{Name: "notes.txt", Content: []byte("notes")}, entry{Name: "eicar.txt", Content: e})})},
		{"05-eicar-zip-in-forward.eml", M, M, M, M, mail("Fwd: Photos from the trip", "Forwarding this.", att{"", "message/rfc822", forwarded})},
		{"06-eicar-tar-xz.eml", M, M, M, M, mail("Backup", corpusLetter, att{"backup.tar.xz", "application/x-xz", archivetest.XZ(archivetest.Tar(entry{Name: "home/dana/eicar.com", Content: e}))})},
		{"07-encrypted-zip.eml", S, C, C, S, mail("Invoice 4471", "The invoice is attached. Password: 4471", att{"invoice.zip", "application/zip", archivetest.Zip(entry{Name: "invoice.pdf", Content: cleanPDF, Password: "4471"})})},
		{"08-zip-bomb.eml", S, C, C, S, mail("Disk image", corpusLetter, att{"backup.zip", "application/zip", archivetest.Bomb("disk.img", 8<<20)})},
		{"09-nested-zip-bomb.eml", S, C, C, S, mail("Archive", corpusLetter, att{"archive.zip", "application/zip", archivetest.Nested(7, "x.txt", []byte("x"))})},
		{"10-macro-docx.eml", S, C, C, S, mail("Report", corpusLetter, att{"report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", archivetest.OOXML(true)})},
		{"11-macro-ole-doc.eml", S, C, C, S, mail("Minutes", corpusLetter, att{"minutes.doc", "application/msword", archivetest.OLE(true)})},
		{"12-disguised-exe.eml", S, C, C, S, mail("Photo", corpusLetter, att{"photo.jpg", "image/jpeg", peHeader})},
		{"13-exe-in-zip.eml", S, C, C, S, mail("Overdue invoice", corpusLetter, att{"invoice.zip", "application/zip", archivetest.Zip(entry{Name: "invoice.pdf.exe", Content: peHeader})})},
		{"14-virustotal-known-bad.eml", C, C, M, M, mail("Quote", corpusLetter, att{"quote.pdf", "application/pdf", vtKnownBad})},
		{"15-virustotal-few-engines.eml", C, C, C, C, mail("Quote", corpusLetter, att{"quote.pdf", "application/pdf", vtFewEngines})},
		{"16-clamav-signature.eml", C, M, C, M, mail("Notes", corpusLetter, att{"notes.txt", "text/plain", []byte("meeting notes\n" + clamavMarker + "\n")})},
		{"17-damaged-zip.eml", C, C, C, C, mail("Logs", corpusLetter, att{"logs.zip", "application/zip", archivetest.Zip(entry{Name: "a.log", Content: []byte("GET / 200\n")})[:40]})},
		{"18-zip-named-pdf.eml", C, C, C, C, mail("Statement", corpusLetter, att{"statement.pdf", "application/pdf", archivetest.Zip(entry{Name: "statement.txt", Content: []byte("balance 0.00")})})},
	}
}

func writeCorpus(t *testing.T) {
	var tsv strings.Builder
	tsv.WriteString("# file\tattachments\tclamav\tvirustotal\treport\n")
	for _, f := range corpus() {
		if err := os.WriteFile(filepath.Join(corpusDir, f.name), f.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&tsv, "%s\t%s\t%s\t%s\t%s\n", f.name, f.attachments, f.clamav, f.virustotal, f.verdict)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, "expected.tsv"), []byte(tsv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCorpusUpToDate checks the committed corpus is what the generator
// writes, so expected.tsv and the messages cannot drift apart.
func TestCorpusUpToDate(t *testing.T) {
	for _, f := range corpus() {
		got, err := os.ReadFile(filepath.Join(corpusDir, f.name))
		if err != nil {
			t.Fatalf("%v (run go test -run TestCorpus -update)", err)
		}
		if !bytes.Equal(got, f.raw) {
			t.Errorf("%s differs from the generator's output (run go test -run TestCorpus -update)", f.name)
		}
	}
}
