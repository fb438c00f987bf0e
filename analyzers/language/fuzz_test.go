package language

import (
	"math"
	"testing"
)

// FuzzDetect checks that no text makes detection panic or name a language
// without a confidence.
func FuzzDetect(f *testing.F) {
	d, err := NewDetector()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "a", "hello world, how are you", "日本語とカタカナ", "\xff\xfe", "ааааааааааааааа"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := d.Detect(s)
		if r.Language != "" && (r.Confidence <= 0 || r.Confidence > 1 || math.IsNaN(r.Confidence)) {
			t.Fatalf("%q: %+v", s, r)
		}
		if r.Language == "" && r.Reason == "" && r.Script == "" {
			t.Fatalf("%q: no language and no reason", s)
		}
	})
}
