package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mailsift/mailsift/analyzers/sentiment"
)

// sentimentSets are VADER's four human-rated sets with the paper's
// correlation (Hutto & Gilbert 2014, table 4) and this project's goal.
var sentimentSets = []struct {
	name, file  string
	paper, goal float64
}{
	{"tweets", "tweets", 0.881, 0.881},
	{"Amazon snippets", "amazonReviewSnippets", 0.565, 0.62},
	{"movie snippets", "movieReviewSnippets", 0.451, 0.451},
	{"NYT snippets", "nytEditorialSnippets", 0.492, 0.492},
}

type rated struct {
	id    string
	human float64
	text  string
}

func readRated(path string) ([]rated, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []rated
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p := strings.SplitN(sc.Text(), "\t", 3)
		if len(p) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(p[1], 64)
		if err != nil {
			continue
		}
		out = append(out, rated{p[0], v, p[2]})
	}
	return out, sc.Err()
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		syy += y[i] * y[i]
		sxy += x[i] * y[i]
	}
	return (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
}

func evalSentiment(w io.Writer, corpora string) error {
	vader := sentiment.NewLocal(sentiment.LocalOptions{})
	ref := sentiment.NewLocal(sentiment.LocalOptions{ReferenceLexicon: true})
	ours := sentiment.NewLocal(sentiment.LocalOptions{Additions: true})
	fmt.Fprintln(w, "### Sentiment: Pearson r against the human means")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| set | items | VADER paper | goal | local, VADER as published | local, with mailsift's additions (message score) | goal met |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, s := range sentimentSets {
		items, err := readRated(filepath.Join(corpora, "sentiment/vader-icwsm2014", s.file+"_GroundTruth.txt"))
		if err != nil {
			return err
		}
		human := make([]float64, len(items))
		plain := make([]float64, len(items))
		add := make([]float64, len(items))
		for i, it := range items {
			human[i] = it.human
			plain[i] = vader.Score(it.text, "en")
			add[i] = ours.Assess(it.text, "en").Score
		}
		rp, ra := pearson(human, plain), pearson(human, add)
		met := "yes"
		if ra < s.goal {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f | %.3f | %s |\n", s.name, len(items), s.paper, s.goal, rp, ra, met)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### Sentiment: agreement with NLTK VADER's outputs (compound within 1e-3)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| set | items | current VADER lexicon | lexicon as NLTK ships it |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	var tot, okCur, okRef int
	for _, s := range sentimentSets {
		path := filepath.Join(corpora, "sentiment/vader-nltk-reference-outputs", s.file+"_GroundTruth_vader.tsv")
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		n, a, b := 0, 0, 0
		for sc.Scan() {
			p := strings.SplitN(sc.Text(), "\t", 6)
			if len(p) < 6 {
				continue
			}
			want, err := strconv.ParseFloat(p[4], 64)
			if err != nil {
				continue
			}
			n++
			if math.Abs(vader.Score(p[5], "en")-want) <= 1e-3 {
				a++
			}
			if math.Abs(ref.Score(p[5], "en")-want) <= 1e-3 {
				b++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
		tot, okCur, okRef = tot+n, okCur+a, okRef+b
		fmt.Fprintf(w, "| %s | %d | %.2f%% | %.2f%% |\n", s.name, n, 100*float64(a)/float64(n), 100*float64(b)/float64(n))
	}
	fmt.Fprintf(w, "| all | %d | %.2f%% | %.2f%% (goal 99%%) |\n\n", tot, 100*float64(okCur)/float64(tot), 100*float64(okRef)/float64(tot))
	return nil
}
