package phishing

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplitAlternatives(t *testing.T) {
	cases := []struct {
		expr, flags string
		alts        []string
	}{
		{`a|b`, "", []string{"a", "b"}},
		{`(?i)\bx(y|z)\b|[|(]w`, "(?i)", []string{`\bx(y|z)\b`, `[|(]w`}},
		{`[]|]a|b`, "", []string{`[]|]a`, "b"}},
		{`[^]|]a|\|b|c`, "", []string{`[^]|]a`, `\|b`, "c"}},
		{`(?i:a|b)|c`, "", []string{`(?i:a|b)`, "c"}},
		{`single`, "", []string{"single"}},
	}
	for _, c := range cases {
		flags, alts := splitAlternatives(c.expr)
		if flags != c.flags || !slices.Equal(alts, c.alts) {
			t.Errorf("splitAlternatives(%q) = %q %q, want %q %q", c.expr, flags, alts, c.flags, c.alts)
		}
	}
}

// Running only the alternatives a text may match must find exactly what the
// whole expression finds, on every text the package's mail holds and on
// pieces of them (which need other subsets).
func TestForTextFindsWhatTheWholeExpressionFinds(t *testing.T) {
	phrases := map[string]phrase{"pressure": pressurePhrases, "lure": lurePhrases, "credential": credentialPhrases,
		"callWords": callWords, "callReasons": callReasons, "contactNumber": contactNumber}
	for i, p := range scamPhrases {
		phrases["scam"+string(rune('a'+i))] = p
	}
	files, _ := filepath.Glob("testdata/*/*.eml")
	if len(files) < 50 {
		t.Fatalf("only %d test messages", len(files))
	}
	var texts []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := parse(t, string(raw))
		text := m.Header.Subject + "\n" + m.Text + "\n" + htmlText(m)
		texts = append(texts, text)
		for _, para := range strings.Split(text, "\n\n") {
			texts = append(texts, para)
		}
	}
	subsets, matched := 0, 0
	for name, p := range phrases {
		for _, text := range texts {
			w := scanText(text)
			for _, in := range []string{text, w.lower} {
				want := p.re.FindAllString(in, -1)
				var got []string
				if re := p.forText(w); re != nil {
					got = re.FindAllString(in, -1)
					if re != p.re {
						subsets++
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s: found %q, the whole expression %q, in %.200q", name, got, want, in)
				}
				if len(want) > 0 {
					matched++
				}
			}
		}
	}
	if subsets == 0 || matched == 0 {
		t.Fatalf("%d texts ran a subset and %d matched: the test does not exercise forText", subsets, matched)
	}
}

// The automaton finds exactly the literals a substring search finds.
func TestNeedlesFindWhatContainsFinds(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "€", "us$", "a", "abc", "bc", "c"}
	n := newNeedles(lits)
	for _, text := range []string{"", "ushers", "ahishers", "abc", "xbcx", "pay 5€ or us$ 3", "h", "shhe", strings.Repeat("z", 100)} {
		got := n.scan(text)
		for id, l := range lits {
			if want := strings.Contains(text, l); got.anyOf([]int32{int32(id)}) != want {
				t.Errorf("%q in %q: found %v, want %v", l, text, !want, want)
			}
		}
	}
	if !n.scan("x").anyOf(nil) {
		t.Error("no literal set must count as held")
	}
	// And over the lists' own literals, on real text.
	text := strings.ToLower("Your account will be SUSPENDED within 24 hours; send US$ 2,500 via Western Union to the barrister")
	has := wordNeedles.scan(text)
	for id, l := range literalList {
		if has.anyOf([]int32{int32(id)}) != strings.Contains(text, l) {
			t.Errorf("list literal %q: automaton and substring search disagree", l)
		}
	}
	found := 0
	for id := range literalList {
		if has.anyOf([]int32{int32(id)}) {
			found++
		}
	}
	if found < 5 {
		t.Errorf("only %d list literals found in a text full of them", found)
	}
}
