// Command eval measures mailsift's text analyzers against the published
// figures of the methods they follow, on the evaluation corpora kept
// beside the project (never copied into it). `make eval` runs it and its
// output is the "Text analyzers" section of docs/benchmarks.md.
//
//	go run ./eval -corpora ../shared/corpora [-only sentiment,keywords,language]
//	go run ./eval -corpora ../shared/corpora -train-sentiment analyzers/sentiment/lexicon/learned-en.tsv
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

func main() {
	corpora := flag.String("corpora", "../shared/corpora", "folder of the evaluation corpora")
	only := flag.String("only", "sentiment,keywords,language", "evaluations to run")
	train := flag.String("train-sentiment", "", "fit sentiment's learned layer on the corpora and write its weights to this file (analyzers/sentiment/lexicon/learned-en.tsv), instead of evaluating")
	flag.Parse()
	if _, err := os.Stat(*corpora); err != nil {
		fmt.Fprintf(os.Stderr, "eval: corpora: %v\n", err)
		os.Exit(1)
	}
	if *train != "" {
		if err := trainSentiment(os.Stdout, *corpora, *train); err != nil {
			fmt.Fprintf(os.Stderr, "eval -train-sentiment: %v\n", err)
			os.Exit(1)
		}
		return
	}
	run := strings.Split(*only, ",")
	steps := []struct {
		name string
		fn   func(w *os.File, corpora string) error
	}{
		{"sentiment", func(w *os.File, c string) error { return evalSentiment(w, c) }},
		{"keywords", func(w *os.File, c string) error { return evalKeywords(w, c) }},
		{"language", func(w *os.File, c string) error { return evalLanguage(w, c) }},
	}
	for _, s := range steps {
		if !slices.Contains(run, s.name) {
			continue
		}
		if err := s.fn(os.Stdout, *corpora); err != nil {
			fmt.Fprintf(os.Stderr, "eval %s: %v\n", s.name, err)
			os.Exit(1)
		}
	}
}
