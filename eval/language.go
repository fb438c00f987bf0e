package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mailsift/mailsift/analyzers/language"
)

// langidSet are the 28 languages of the sentence set.
var langidSet = []string{"en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "hu", "ro", "el", "ru", "uk", "tr", "ar", "he", "fa", "hi", "zh", "ja", "ko", "vi", "id"}

func evalLanguage(w io.Writer, corpora string) error {
	// Memory first, before anything else loads the model.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	all, err := language.NewDetector()
	if err != nil {
		return err
	}
	load := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	only28, err := language.NewDetector(langidSet...)
	if err != nil {
		return err
	}
	type row struct {
		lang           string
		n, okAll, ok28 int
	}
	var rows []row
	var n, okAll, ok28 int
	var elapsed time.Duration
	for _, l := range langidSet {
		f, err := os.Open(filepath.Join(corpora, "langid/lingua-sentences", l+".txt"))
		if err != nil {
			return err
		}
		r := row{lang: l}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			r.n++
			t := time.Now()
			if all.Detect(line).Language == l {
				r.okAll++
			}
			elapsed += time.Since(t)
			if only28.Detect(line).Language == l {
				r.ok28++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
		rows = append(rows, r)
		n, okAll, ok28 = n+r.n, okAll+r.okAll, ok28+r.ok28
	}
	fmt.Fprintln(w, "### Language: accuracy on the 28-language sentence set")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d sentences. Model: %.1f MB of heap once loaded (goal: under 100 MB), loaded in %v; %.0f sentences/s on one core.\n\n",
		n, heap, load.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	fmt.Fprintln(w, "| detector | accuracy | goal |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	fmt.Fprintf(w, "| restricted to the 28 languages of the set (as lingua's figures) | %.2f%% | 98%% |\n", 100*float64(ok28)/float64(n))
	fmt.Fprintf(w, "| all 37 supported languages (the default) | %.2f%% | |\n", 100*float64(okAll)/float64(n))
	fmt.Fprintln(w, "| lingua-go low accuracy, 28 languages (measured in notes/nlp.md) | 98.6% | |")
	fmt.Fprintln(w, "| lingua-go high accuracy, 28 languages, 1 GB (notes/nlp.md) | 99.5% | |")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "<details><summary>per language (restricted / all)</summary>")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| language | sentences | restricted | all |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %.1f%% | %.1f%% |\n", r.lang, r.n, 100*float64(r.ok28)/float64(r.n), 100*float64(r.okAll)/float64(r.n))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "</details>")
	fmt.Fprintln(w)
	return nil
}
