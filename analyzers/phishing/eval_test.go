package phishing

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

// The evaluation over real phishing and clean mail runs only when told
// where the corpora are, so that `make test` never depends on them:
//
//	MAILSIFT_EVAL_PHISHING=/path/to/phishing_pot_sample.tar.gz \
//	MAILSIFT_EVAL_HAM=/path/to/ham-dir[:/another] \
//	go test ./analyzers/phishing -run TestEvalCorpus -v
//
// The phishing set is a .tar.gz or a folder of .eml files; ham folders
// are read recursively (every regular file is taken as one message), and
// this package's testdata/ham is always part of the ham set.
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
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.EqualFold(d.Name(), "README.md") {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, evalMessage{name: p, raw: raw})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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
				syms = append(syms, sym.Name)
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

func TestEvalCorpus(t *testing.T) {
	phishPath := os.Getenv(envPhishing)
	if phishPath == "" {
		t.Skipf("set %s (and optionally %s) to run the evaluation", envPhishing, envHam)
	}
	phish := readEvalSet(t, phishPath)
	ham := readEvalSet(t, "testdata/ham")
	if dirs := os.Getenv(envHam); dirs != "" {
		for _, d := range filepath.SplitList(dirs) {
			ham = append(ham, readEvalSet(t, d)...)
		}
	}
	for _, s := range evalScorers(t) {
		t.Run(s.name, func(t *testing.T) {
			var caught, fp, phishParsed, hamParsed int
			symCount := map[string]int{}
			var missed, falsePos []string
			for _, e := range phish {
				m, err := analyzers.Parse(e.raw, analyzers.ParseOptions{})
				if err != nil {
					continue
				}
				m.Mailbox = "eval-phish"
				phishParsed++
				v, score, syms := s.judge(t, m)
				for _, sym := range syms {
					symCount[sym]++
				}
				if flagged(v) {
					caught++
				} else {
					missed = append(missed, fmt.Sprintf("%s %.1f %v %q", filepath.Base(e.name), score, syms, m.Header.Subject))
				}
			}
			for _, e := range ham {
				m, err := analyzers.Parse(e.raw, analyzers.ParseOptions{})
				if err != nil {
					continue
				}
				m.Mailbox = "eval-ham"
				hamParsed++
				v, score, syms := s.judge(t, m)
				if flagged(v) {
					fp++
					falsePos = append(falsePos, fmt.Sprintf("%s %.1f %v", e.name, score, syms))
				}
			}
			t.Logf("%s: phishing flagged %d/%d (%.1f%%); ham flagged %d/%d (%.1f%%)",
				s.name, caught, phishParsed, pct(caught, phishParsed), fp, hamParsed, pct(fp, hamParsed))
			if testing.Verbose() {
				var names []string
				for n := range symCount {
					names = append(names, n)
				}
				sort.Slice(names, func(i, j int) bool { return symCount[names[i]] > symCount[names[j]] })
				for _, n := range names {
					t.Logf("  symbol %-28s on %3d phishing mails", n, symCount[n])
				}
				for _, s := range falsePos {
					t.Logf("  false positive: %s", s)
				}
				if os.Getenv("MAILSIFT_EVAL_MISSED") != "" {
					for _, s := range missed {
						t.Logf("  missed: %s", s)
					}
				}
			}
		})
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
