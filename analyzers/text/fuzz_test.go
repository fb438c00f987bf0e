package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzExtract checks that no body makes extraction panic, and that what it
// keeps is never more than it was given.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"Hi\n\nOn Mon, X wrote:\n> old",
		"-- \nsig",
		"<div class=gmail_quote><blockquote>x</blockquote></div>",
		"<p>a<p>b</div></div></span>",
		"From: a\nSent: b\n\nx",
		"\r\n\r\n>\r\n",
		"Best regards,\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range []Extract{FromPlain(s), FromHTML(s)} {
			if e.Quoted < 0 || e.Signature < 0 || e.Quoted+e.Signature > e.Body {
				t.Fatalf("counts %+v", e)
			}
			if utf8.ValidString(s) && !utf8.ValidString(e.Text) {
				t.Fatalf("invalid UTF-8 out of valid UTF-8: %q", e.Text)
			}
		}
		if p := FromPlain(s); utf8.RuneCountInString(p.Text) > utf8.RuneCountInString(strings.ReplaceAll(s, "\r\n", "\n")) {
			t.Fatalf("plain text grew: %q -> %q", s, p.Text)
		}
	})
}
