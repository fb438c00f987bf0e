package main

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/mailsift/mailsift/analyzers/keywords"
)

type keyDoc struct {
	text string
	gold []string
}

// countDF is document frequencies over an evaluation set: the stand-in
// for a mailbox's recent mail.
type countDF struct {
	docs int
	n    map[string]int
}

func (c *countDF) Docs() int          { return c.docs }
func (c *countDF) Count(s string) int { return c.n[s] }
func (c *countDF) add(stems []string) {
	c.docs++
	for _, s := range stems {
		c.n[s]++
	}
}
func newCountDF() *countDF { return &countDF{n: map[string]int{}} }

func readInspec(corpora string) ([]keyDoc, error) {
	f, err := os.Open(filepath.Join(corpora, "keyphrase/inspec-hulth2003/inspec_test.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []keyDoc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d struct {
			Title, Abstract string
			Keys            []string `json:"keyphrases_uncontr"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, err
		}
		out = append(out, keyDoc{text: d.Title + ".\n" + d.Abstract, gold: d.Keys})
	}
	return out, sc.Err()
}

func readLIAAD(path string) ([]keyDoc, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	texts := map[string]string{}
	keys := map[string][]string{}
	for _, f := range zr.File {
		dir, name := filepath.Base(filepath.Dir(f.Name)), filepath.Base(f.Name)
		if dir != "docsutf8" && dir != "keys" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		id := strings.TrimSuffix(name, filepath.Ext(name))
		if dir == "docsutf8" {
			texts[id] = string(b)
		} else {
			for _, k := range strings.Split(string(b), "\n") {
				if k = strings.TrimSpace(k); k != "" {
					keys[id] = append(keys[id], k)
				}
			}
		}
	}
	var ids []string
	for id := range texts {
		if len(keys[id]) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]keyDoc, 0, len(ids))
	for _, id := range ids {
		out = append(out, keyDoc{text: texts[id], gold: keys[id]})
	}
	return out, nil
}

// stemPhrase is the pke protocol's normal form: lower case, split into
// words, each stemmed.
func stemPhrase(x *keywords.Extractor, p string) string {
	f := strings.FieldsFunc(strings.ToLower(p), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
	})
	for i, w := range f {
		f[i] = x.Stem(strings.Trim(w, "-"))
	}
	return strings.Join(f, " ")
}

// f1At is the mean over documents of F1 at k, exact match of stemmed
// phrases, gold including phrases absent from the text.
func f1At(x *keywords.Extractor, docs []keyDoc, df keywords.DF, k int) float64 {
	var sum float64
	for _, d := range docs {
		gold := map[string]bool{}
		for _, g := range d.gold {
			gold[stemPhrase(x, g)] = true
		}
		pred := x.Extract(d.text, df, k)
		seen := map[string]bool{}
		match, n := 0, 0
		for _, p := range pred {
			s := stemPhrase(x, p.Phrase)
			if seen[s] {
				continue
			}
			seen[s] = true
			n++
			if gold[s] {
				match++
			}
		}
		if match == 0 || n == 0 {
			continue
		}
		pr, rc := float64(match)/float64(n), float64(match)/float64(len(gold))
		sum += 2 * pr * rc / (pr + rc)
	}
	return 100 * sum / float64(len(docs))
}

func evalKeywords(w io.Writer, corpora string) error {
	inspec, err := readInspec(corpora)
	if err != nil {
		return err
	}
	crowd, err := readLIAAD(filepath.Join(corpora, "keyphrase/liaad/500N-KPCrowd-v1.1.zip"))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "### Keywords: F1 (%), stemmed exact match, pke protocol")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| set | docs | variant | F1@5 | F1@10 |")
	fmt.Fprintln(w, "| --- | ---: | --- | ---: | ---: |")
	for _, set := range []struct {
		name string
		docs []keyDoc
	}{{"Inspec test (uncontrolled)", inspec}, {"500N-KPCrowd", crowd}} {
		sr, _ := keywords.MethodOptions(keywords.MethodSingleRank)
		tf, _ := keywords.MethodOptions(keywords.MethodTFIDF)
		noPos := sr
		noPos.Position = false
		for _, v := range []struct {
			name  string
			opts  keywords.Options
			useDF bool
		}{
			{"singlerank: word graph only (SingleRank)", noPos, false},
			{"singlerank: + position bias", sr, false},
			{"singlerank: + IDF of the set (default method)", sr, true},
			{"tfidf: runs of 1-3 words, IDF of the set", tf, true},
		} {
			x := keywords.NewExtractor("en", v.opts)
			var df keywords.DF
			if v.useDF {
				c := newCountDF()
				for _, d := range set.docs {
					c.add(x.Stems(d.text))
				}
				df = c
			}
			fmt.Fprintf(w, "| %s | %d | %s | %.1f | %.1f |\n", set.name, len(set.docs), v.name, f1At(x, set.docs, df, 5), f1At(x, set.docs, df, 10))
		}
	}
	fmt.Fprintln(w)
	return nil
}
