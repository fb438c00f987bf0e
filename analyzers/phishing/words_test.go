package phishing

import (
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

func TestOpenings(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`\bnext\s+of\s+kin\b`, []string{"next"}},
		{`\b(bitcoin|btc|usdt)s?\b`, []string{"bitcoin", "btc", "usdt"}},
		// The parser factors us\$|usd into us[$d]; small classes are spelt out.
		{`(us\$|usd|€)\s?\d`, []string{"us$", "usd", "€"}},
		{`\binherit(ance|ed)\b|\bheran[çc]a\b`, []string{"inheritance", "inherited", "heranca", "herança"}},
		{`\b(my|our)\s+late\s+(father|wife)\b`, []string{"father", "wife"}}, // rarer than "my", "our"
		{`\d[\d,.]*\s*million`, []string{"million"}},
		// "m" is as short as "$" but in every text.
		{`(\$|€|£)\s?\d[\d,.]*\s*(million|m)\b`, []string{"$", "€", "£"}},
		{`\d+\s?%\s+of`, []string{"of"}}, // "%" too, but "of" is the longer needle
		{`(^|\s)[úu]ltimo`, []string{"ltimo"}},
		{`\d+|[a-z]+`, nil},
		{`(?i)Lottery`, []string{"lottery"}},
	}
	for _, tt := range tests {
		re, err := syntax.Parse(tt.expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got := openings(re.Simplify())
		slices.Sort(got)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("openings(%q) = %q, want %q", tt.expr, got, want)
		}
	}
}

// TestPrefilterAgreesWithTheExpressions runs every scam phrase over every
// message the tests have, and some made-up text, with and without the
// prefilter: the answers must be the same.
func TestPrefilterAgreesWithTheExpressions(t *testing.T) {
	var texts []string
	for _, glob := range []string{"testdata/*/*.eml", "testdata/*.eml", "../../examples/mail/*.eml"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, strings.ToLower(string(b)), string(b))
		}
	}
	texts = append(texts,
		"my late father left an inheritance of us$ 4.5 million to the next of kin; transfer of the funds to your wallet address in btc",
		"herança do falecido, 30% of the total sum, strictly confidential business proposal, western union or moneygram")
	if len(texts) < 30 {
		t.Fatalf("only %d texts found", len(texts))
	}
	hits := 0
	all := append([]phrase{pressurePhrases, lurePhrases, credentialPhrases, callWords, callReasons, contactNumber}, scamPhrases...)
	for _, p := range all {
		for _, text := range texts {
			if !p.mayMatch(scanText(text)) && p.re.MatchString(text) {
				t.Fatalf("%s matches a text the prefilter ruled out", p.re)
			}
		}
	}
	for _, p := range scamPhrases {
		for _, text := range texts {
			w := scanText(text) // the scam lists run on the lower-cased text
			got, want := p.find(w), p.re.FindString(w.lower)
			if got != want {
				t.Fatalf("%s on a text: prefiltered %q, expression %q", p.re, got, want)
			}
			if want != "" {
				hits++
			}
		}
	}
	if hits < 10 {
		t.Errorf("only %d matches: the comparison proves little", hits)
	}
}
