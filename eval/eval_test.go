package main

import (
	"archive/zip"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailsift/mailsift/analyzers/keywords"
)

func TestPearson(t *testing.T) {
	tests := []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3}, []float64{2, 4, 6}, 1},
		{[]float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 0.8},
	}
	for _, tt := range tests {
		if got := pearson(tt.x, tt.y); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("pearson(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

// TestF1At checks the pke protocol on a document whose answer is known:
// stemmed exact match, duplicates counted once, absent gold phrases in
// the denominator.
func TestF1At(t *testing.T) {
	o, _ := keywords.MethodOptions(keywords.MethodSingleRank)
	x := keywords.NewExtractor("en", o)
	if got := stemPhrase(x, "Neural Networks"); got != stemPhrase(x, "neural network") {
		t.Errorf("stemPhrase does not normalise plurals and case: %q", got)
	}
	doc := keyDoc{
		text: "Neural networks for image segmentation. Neural networks segment images.",
		gold: []string{"neural network", "image segmentation", "deep learning", "convolution"},
	}
	pred := x.Extract(doc.text, nil, 2)
	f := f1At(x, []keyDoc{doc}, nil, 2)
	match := 0
	for _, p := range pred {
		s := stemPhrase(x, p.Phrase)
		if s == stemPhrase(x, "neural network") || s == stemPhrase(x, "image segmentation") {
			match++
		}
	}
	p, r := float64(match)/float64(len(pred)), float64(match)/4
	want := 0.0
	if match > 0 {
		want = 100 * 2 * p * r / (p + r)
	}
	if math.Abs(f-want) > 1e-9 {
		t.Errorf("F1@2 = %v, want %v (predictions %v)", f, want, pred)
	}
}

func TestReadLIAAD(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "set.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range map[string]string{
		"set/docsutf8/a.txt": "Text of a.",
		"set/keys/a.key":     "key one\nkey two\n\n",
		"set/docsutf8/b.txt": "Text of b, without keys.",
	} {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	f.Close()
	docs, err := readLIAAD(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].text != "Text of a." || len(docs[0].gold) != 2 {
		t.Errorf("docs = %+v", docs)
	}
}
