package main

import (
	"slices"
	"testing"

	"github.com/mailsift/mailsift/analyzers/keywords"
)

// TestUncontrolled checks that the controlled terms LIAAD appends to an
// Inspec key list, in alphabetical order, are dropped and the
// uncontrolled keys before them kept.
func TestUncontrolled(t *testing.T) {
	tests := []struct {
		name       string
		keys, want []string
	}{
		{"unsorted keys then sorted terms",
			[]string{"sliding mode control", "fast output sampling", "discrete output feedback", "control system synthesis", "Feedback", "variable  structure systems"},
			[]string{"sliding mode control", "fast output sampling", "discrete output feedback"}},
		{"the last key sorting before the terms goes with them",
			[]string{"weld quality", "arc welding", "gas-metal arc", "process control"},
			[]string{"weld quality"}},
		{"all sorted leaves nothing", []string{"a", "b", "c"}, []string{}},
		{"one key", []string{"a"}, []string{}},
		{"no keys", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uncontrolled(tt.keys); !slices.Equal(got, tt.want) {
				t.Errorf("uncontrolled(%q) = %q, want %q", tt.keys, got, tt.want)
			}
		})
	}
}

// TestHalves checks the fixed split of 500N-KPCrowd: by sorted file name,
// whatever order the stories come in, even places development.
func TestHalves(t *testing.T) {
	docs := []keyDoc{{name: "tech-3"}, {name: "art-1"}, {name: "crime-9"}, {name: "art-2"}, {name: "sport-5"}}
	dev, test := halves(docs)
	names := func(ds []keyDoc) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.name)
		}
		return out
	}
	if got, want := names(dev), []string{"art-1", "crime-9", "tech-3"}; !slices.Equal(got, want) {
		t.Errorf("development half = %q, want %q", got, want)
	}
	if got, want := names(test), []string{"art-2", "sport-5"}; !slices.Equal(got, want) {
		t.Errorf("held-out half = %q, want %q", got, want)
	}
}

// TestStemPhraseHyphens checks that a word matches whether or not the gold
// kept its hyphen, and that hyphens still do not split words.
func TestStemPhraseHyphens(t *testing.T) {
	o, _ := keywords.MethodOptions(keywords.MethodTFIDF)
	x := keywords.NewExtractor("en", o)
	tests := []struct {
		a, b string
		same bool
	}{
		{"third-order births", "thirdorder births", true},
		{"R-Hooksett", "RHooksett", true},
		{"non-Gaussian fluctuations", "nonGaussian fluctuations", true},
		{"-lead- word", "lead word", true},
		{"third-order births", "third order births", false},
	}
	for _, tt := range tests {
		if got := stemPhrase(x, tt.a) == stemPhrase(x, tt.b); got != tt.same {
			t.Errorf("stemPhrase(%q) == stemPhrase(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
