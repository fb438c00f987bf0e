package keywords

import (
	"testing"
)

// FuzzExtract checks that no text makes extraction panic, return more
// than asked, or repeat a phrase.
func FuzzExtract(f *testing.F) {
	var xs []*Extractor
	for _, m := range []string{MethodSingleRank, MethodTFIDF} {
		o, _ := MethodOptions(m)
		for _, l := range Languages {
			xs = append(xs, NewExtractor(l, o))
		}
	}
	for _, s := range []string{"", "the the the", "a-b-c d'e f’g", "l'étiquette d'origine", "x http://a@b www.c", "Größe Größen"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, x := range xs {
			kw := x.Extract(s, nil, 5)
			if len(kw) > 5 {
				t.Fatalf("%d phrases", len(kw))
			}
			seen := map[string]bool{}
			for _, k := range kw {
				if seen[k.Phrase] || k.Score < 0 || k.Score > 1 {
					t.Fatalf("phrases %+v", kw)
				}
				seen[k.Phrase] = true
			}
		}
	})
}
