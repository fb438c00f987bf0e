//go:build eval

package phishing

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

// The evaluation over real phishing and clean mail is built only with the
// eval tag, so that `make test` never depends on the corpora
// (`make eval-phishing CORPORA=...` runs it):
//
//	MAILSIFT_EVAL_PHISHING=/path/to/phishing_pot_sample.tar.gz \
//	MAILSIFT_EVAL_HAM=/path/to/ham-dir[:/another] \
//	go test -tags eval ./analyzers/phishing -run TestEvalCorpus -v
//
// The phishing set is a .tar.gz or a folder of .eml files. Ham is a list
// of folders and files: folders are read recursively, every regular file
// is one message (README.md, LICENSE and NOTICE files left out) except
// .mbox and .mbox.txt files, which are cut into theirs; this
// package's testdata/ham is always part of the ham set. Each entry is
// reported on its own and all of them together.
const (
	envPhishing = "MAILSIFT_EVAL_PHISHING"
	envHam      = "MAILSIFT_EVAL_HAM"
)

// evalMessage is one message of an evaluation set.
type evalMessage struct {
	name string
	raw  []byte
}

func readEvalSet(t *testing.T, path string) []evalMessage {
	t.Helper()
	if strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz") {
		return readTarGz(t, path)
	}
	var out []evalMessage
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || notMail(d.Name()) {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".mbox") || strings.HasSuffix(p, ".mbox.txt") {
			out = append(out, splitMbox(p, raw)...)
			return nil
		}
		out = append(out, evalMessage{name: p, raw: raw})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notMail says whether a file beside the messages of a corpus is its
// documentation rather than mail.
func notMail(name string) bool {
	switch strings.ToUpper(name) {
	case "README.MD", "LICENSE", "NOTICE":
		return true
	}
	return false
}

// splitMbox cuts an mbox file into its messages at the "From " lines
// that start each one, and drops those lines.
func splitMbox(name string, raw []byte) []evalMessage {
	var out []evalMessage
	var cur []byte
	flush := func() {
		if len(bytes.TrimSpace(cur)) > 0 {
			out = append(out, evalMessage{name: fmt.Sprintf("%s#%d", name, len(out)+1), raw: cur})
		}
		cur = nil
	}
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("From ")) {
			flush()
			continue
		}
		cur = append(cur, line...)
	}
	flush()
	return out
}

func readTarGz(t *testing.T, path string) []evalMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(gz)
	var out []evalMessage
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".eml") {
			continue
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		out = append(out, evalMessage{name: h.Name, raw: raw})
	}
	return out
}

// evalScorer judges one message the way the reporter would from the
// results of the analyzers given: the worst verdict, raised by the summed
// score at the default report thresholds (5 and 15).
type evalScorer struct {
	name string
	as   []analyzers.Analyzer
}

func (s evalScorer) judge(t *testing.T, m *analyzers.Message) (analyzers.Verdict, float64, []string) {
	t.Helper()
	verdict := analyzers.VerdictClean
	score := 0.0
	var syms []string
	for _, a := range s.as {
		r, err := analyzers.Run(context.Background(), a, m)
		if err != nil {
			t.Fatalf("%s: %v", a.Name(), err)
		}
		if r.Verdict.Rank() > verdict.Rank() {
			verdict = r.Verdict
		}
		for _, sym := range r.Symbols {
			score += sym.Score
			if sym.Score != 0 {
				syms = append(syms, fmt.Sprintf("%s=%g", sym.Name, sym.Score))
			}
		}
	}
	switch {
	case score >= 15:
		verdict = analyzers.VerdictMalicious
	case score >= 5 && verdict.Rank() < analyzers.VerdictSuspicious.Rank():
		verdict = analyzers.VerdictSuspicious
	}
	return verdict, score, syms
}

func flagged(v analyzers.Verdict) bool { return v.Rank() >= analyzers.VerdictSuspicious.Rank() }

// heldOut says whether a message belongs to the held-out half of an
// evaluation set. Symbols and weights are tuned on the other half only;
// the held-out half shows whether they carry over to mail they were not
// fitted to. The split hashes the file's base name, so it is the same on
// every run and does not follow the order of the files.
func heldOut(name string) bool {
	h := fnv.New32a()
	h.Write([]byte(filepath.Base(name)))
	return h.Sum32()%2 == 1
}

// tally counts flagged messages of one set, split into tuning and
// held-out halves.
type tally struct{ n, flagged, heldN, heldFlagged int }

func (c *tally) add(name string, f bool) {
	held := heldOut(name)
	c.n++
	if held {
		c.heldN++
	}
	if f {
		c.flagged++
		if held {
			c.heldFlagged++
		}
	}
}

func (c tally) String() string {
	tn, tf := c.n-c.heldN, c.flagged-c.heldFlagged
	return fmt.Sprintf("%d/%d (%.1f%%) [tuning %d/%d (%.1f%%), held-out %d/%d (%.1f%%)]",
		c.flagged, c.n, pct(c.flagged, c.n), tf, tn, pct(tf, tn), c.heldFlagged, c.heldN, pct(c.heldFlagged, c.heldN))
}

// spamFixtures are messages of the shared MIME test fixtures that are
// spam or scams by their content (the parsers' authors took real spam for
// their malformed-mail tests). They are not clean mail, so the ham sets
// leave them out, and the log says so.
var spamFixtures = []string{
	"mikel-mail/error_emails/content_transfer_encoding_text-html.eml",       // mortgage spam
	"mikel-mail/error_emails/content_transfer_encoding_with_semi_colon.eml", // .tk sender, "Attention"
	"mikel-mail/error_emails/empty_group_lists.eml",                         // Western Union advance-fee scam
	"mikel-mail/error_emails/bad_date_header.eml",                           // "Legitimate Cash from GovAgencies"
	"mikel-mail/plain_emails/raw_email_with_bad_date.eml",                   // pirated-software spam
	"nodemailer-mailparser/outofmemory.eml",                                 // life-insurance spam linking to an IP address
	"nodemailer-mailparser/spam.eml",
}

func isSpamFixture(name string) bool {
	for _, s := range spamFixtures {
		if strings.HasSuffix(filepath.ToSlash(name), s) {
			return true
		}
	}
	return false
}

// hamSet is one source of clean mail, reported on its own.
type hamSet struct {
	label string
	msgs  []evalMessage
}

func TestEvalCorpus(t *testing.T) {
	phishPath := os.Getenv(envPhishing)
	if phishPath == "" {
		t.Fatalf("set %s (and optionally %s) to run the evaluation", envPhishing, envHam)
	}
	phish := readEvalSet(t, phishPath)
	hams := []hamSet{{"testdata/ham", readEvalSet(t, "testdata/ham")}}
	if dirs := os.Getenv(envHam); dirs != "" {
		for _, d := range filepath.SplitList(dirs) {
			hams = append(hams, hamSet{d, readEvalSet(t, d)})
		}
	}
	// MAILSIFT_EVAL_DETAIL=1 logs every message with its symbols and
	// scores; MAILSIFT_EVAL_MISSED=1 only the phishing mails missed.
	detail := os.Getenv("MAILSIFT_EVAL_DETAIL") != ""
	for _, s := range evalScorers(t) {
		t.Run(s.name, func(t *testing.T) {
			var caught, hamAll tally
			symCount := map[string]int{}
			var missed, falsePos []string
			for _, e := range phish {
				m, err := analyzers.Parse(e.raw, analyzers.ParseOptions{})
				if err != nil {
					continue
				}
				m.Mailbox = "eval-phish"
				v, score, syms := s.judge(t, m)
				for _, sym := range syms {
					symCount[strings.SplitN(sym, "=", 2)[0]]++
				}
				caught.add(e.name, flagged(v))
				line := fmt.Sprintf("%s %s %.1f %v %q", filepath.Base(e.name), split(e.name), score, syms, m.Header.Subject)
				if !flagged(v) {
					missed = append(missed, line)
				} else if detail {
					t.Logf("  caught: %s", line)
				}
			}
			t.Logf("%s: phishing flagged %s", s.name, caught)
			for _, h := range hams {
				var c tally
				for _, e := range h.msgs {
					if isSpamFixture(e.name) {
						continue
					}
					m, err := analyzers.Parse(e.raw, analyzers.ParseOptions{})
					if err != nil {
						continue
					}
					m.Mailbox = "eval-ham"
					v, score, syms := s.judge(t, m)
					c.add(e.name, flagged(v))
					hamAll.add(e.name, flagged(v))
					line := fmt.Sprintf("%s %s %.1f %v %q", e.name, split(e.name), score, syms, m.Header.Subject)
					if flagged(v) {
						falsePos = append(falsePos, line)
					} else if detail && score > 0 {
						t.Logf("  clean: %s", line)
					}
				}
				t.Logf("%s: ham flagged %s from %s", s.name, c, h.label)
			}
			t.Logf("%s: ham flagged %s in all", s.name, hamAll)
			if testing.Verbose() {
				var names []string
				for n := range symCount {
					names = append(names, n)
				}
				sort.Slice(names, func(i, j int) bool {
					if symCount[names[i]] != symCount[names[j]] {
						return symCount[names[i]] > symCount[names[j]]
					}
					return names[i] < names[j]
				})
				for _, n := range names {
					t.Logf("  symbol %-28s on %3d phishing mails", n, symCount[n])
				}
				for _, s := range falsePos {
					t.Logf("  false positive: %s", s)
				}
				if detail || os.Getenv("MAILSIFT_EVAL_MISSED") != "" {
					for _, s := range missed {
						t.Logf("  missed: %s", s)
					}
				}
			}
		})
	}
}

func split(name string) string {
	if heldOut(name) {
		return "held-out"
	}
	return "tuning"
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
