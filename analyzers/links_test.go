package analyzers

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLLinks(t *testing.T) {
	long := "data:text/html;base64," + strings.Repeat("QUFB", 1000)
	tests := []struct {
		name string
		in   string
		want []Link
	}{
		{
			name: "anchor text shown for its href",
			in:   `<p>Go to <a href=" https://evil.example/x ">https://bank.example/login</a> now</p>`,
			want: []Link{
				{URL: "https://evil.example/x", Text: "https://bank.example/login", Part: "1", Kind: LinkHref},
				{URL: "https://bank.example/login", Text: "https://bank.example/login", Part: "1", Kind: LinkText},
			},
		},
		{
			name: "image alt inside the anchor is its text",
			in:   `<a href="https://t.example/c?u=1"><img src="https://cdn.example/b.png" alt="Sign in"></a>`,
			want: []Link{
				{URL: "https://t.example/c?u=1", Text: "Sign in", Part: "1", Kind: LinkHref},
				{URL: "https://cdn.example/b.png", Part: "1", Kind: LinkSrc},
			},
		},
		{
			name: "blanks collapsed, nested markup read through",
			in:   "<a href='https://a.example/'>\n  Your <b>account</b>\n\tpage </a>",
			want: []Link{{URL: "https://a.example/", Text: "Your account page", Part: "1", Kind: LinkHref}},
		},
		{
			name: "forms, formaction and areas",
			in: `<form action="https://collect.example/post"><input type=password name=p>
<button formaction="//other.example/b">Go</button></form><map><area href="https://map.example/" alt="x"></map>`,
			want: []Link{
				{URL: "https://collect.example/post", Part: "1", Kind: LinkFormAction},
				{URL: "//other.example/b", Part: "1", Kind: LinkFormAction},
				{URL: "https://map.example/", Part: "1", Kind: LinkHref},
			},
		},
		{
			name: "script schemes kept, tabs in the scheme ignored",
			in:   "<a href=\"java\tscript:alert(1)\">click</a><a href=\"DATA:text/html,<h1>x\">open</a>",
			want: []Link{
				{URL: "java\tscript:alert(1)", Text: "click", Part: "1", Kind: LinkHref},
				{URL: "DATA:text/html,<h1>x", Text: "open", Part: "1", Kind: LinkHref},
			},
		},
		{
			name: "cid, mailto, tel and relative links left out",
			in:   `<img src="cid:logo@x"><a href="mailto:a@b.example">m</a><a href="tel:+1">t</a><a href="/rel">r</a><a href="#top">t</a><a href="">e</a>`,
			want: nil,
		},
		{
			name: "unclosed anchor ends at the next one and at the end",
			in:   `<a href="https://one.example/">first <a href="https://two.example/">second`,
			want: []Link{
				{URL: "https://one.example/", Text: "first", Part: "1", Kind: LinkHref},
				{URL: "https://two.example/", Text: "second", Part: "1", Kind: LinkHref},
			},
		},
		{
			name: "script text is not anchor text but its URLs are listed",
			in:   `<a href="https://a.example/">see<script>var u="https://s.example/x"</script></a>`,
			want: []Link{
				{URL: "https://a.example/", Text: "see", Part: "1", Kind: LinkHref},
				{URL: "https://s.example/x", Text: "https://s.example/x", Part: "1", Kind: LinkText},
			},
		},
		{
			name: "resources: link href, background, iframe",
			in:   `<link href="https://css.example/s.css"><td background="https://bg.example/i.png"><iframe src="https://frame.example/"></iframe>`,
			want: []Link{
				{URL: "https://css.example/s.css", Part: "1", Kind: LinkSrc},
				{URL: "https://bg.example/i.png", Part: "1", Kind: LinkSrc},
				{URL: "https://frame.example/", Part: "1", Kind: LinkSrc},
			},
		},
		{
			name: "www in text gets a scheme, text keeps what was written",
			in:   `<p>visit www.shop.example/sale.</p>`,
			want: []Link{{URL: "http://www.shop.example/sale", Text: "www.shop.example/sale", Part: "1", Kind: LinkText}},
		},
		{
			name: "data URL cut",
			in:   `<a href="` + long + `">x</a>`,
			want: []Link{{URL: long[:MaxDataURL], Text: "x", Part: "1", Kind: LinkHref}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HTMLLinks(tt.in, "1")
			if !slices.Equal(got, tt.want) {
				t.Errorf("HTMLLinks =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestHTMLLinksTextBounded(t *testing.T) {
	in := `<a href="https://a.example/">` + strings.Repeat("é ", 2000) + `</a>`
	got := HTMLLinks(in, "1")
	if len(got) != 1 || utf8.RuneCountInString(got[0].Text) != MaxLinkText {
		t.Fatalf("text of %d runes, want %d", utf8.RuneCountInString(got[0].Text), MaxLinkText)
	}
}

func TestTextLinks(t *testing.T) {
	got := TextLinks("see https://a.example/x, or www.b.example.", "2.1")
	want := []Link{
		{URL: "https://a.example/x", Text: "https://a.example/x", Part: "2.1", Kind: LinkText},
		{URL: "http://www.b.example", Text: "www.b.example", Part: "2.1", Kind: LinkText},
	}
	if !slices.Equal(got, want) {
		t.Errorf("TextLinks = %q, want %q", got, want)
	}
}

func TestParseLinks(t *testing.T) {
	m := parseSample(t, "18-phish-display-name-spoof.eml")
	want := []Link{
		{URL: "https://brightlane.example/account/verify", Text: "https://brightlane.example/account/verify", Part: "1", Kind: LinkText},
		{URL: "http://brightlane-account-verify.example/login?id=8812&r=mail", Text: "https://brightlane.example/account/verify", Part: "2", Kind: LinkHref},
		{URL: "https://brightlane.example/account/verify", Text: "https://brightlane.example/account/verify", Part: "2", Kind: LinkText},
	}
	if !slices.Equal(m.Links, want) {
		t.Errorf("Links =\n %q\nwant\n %q", m.Links, want)
	}

	// A forwarded message's links come with their own part paths.
	m = parseSample(t, "17-forwarded-quote-rfc822.eml")
	var nested bool
	for _, l := range m.Links {
		nested = nested || l.Part == "2.1"
	}
	if !nested {
		t.Errorf("no link of the attached message (part 2.1): %q", m.Links)
	}
}

// TestLinksMatchURLs checks, over every sample, that URLs is exactly the
// web links of Links, in order and without repeats: the two views of a
// message's links never disagree.
func TestLinksMatchURLs(t *testing.T) {
	for _, name := range sampleNames(t) {
		m := parseSample(t, name)
		if got := linkURLs(m.Links); !slices.Equal(got, m.URLs) {
			t.Errorf("%s: URLs from Links %q, URLs %q", name, got, m.URLs)
		}
	}
}

func linkURLs(links []Link) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range links {
		if u := webURL(l); u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

func sampleNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// FuzzHTMLLinks checks the link extractor on any input: it never panics,
// and every link it returns is well-formed.
func FuzzHTMLLinks(f *testing.F) {
	for _, s := range []string{
		`<a href="https://a.example/">https://b.example/</a>`,
		`<form action="//c.example/p"><input type=password></form>`,
		"<a href=\"java\tscript:x\"><img alt=\"Sign in\" src=\"data:image/png;base64,AAAA\"></a>",
		`<a href=https://u.example/a>www.shown.example</a> see http://x.example/(y).`,
		`<a href="https://a.example/"><a href="https://b.example/">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		links := HTMLLinks(s, "1")
		for _, l := range links {
			if l.URL == "" || l.Part != "1" {
				t.Fatalf("link %q: empty URL or wrong part", l)
			}
			switch l.Kind {
			case LinkHref, LinkSrc, LinkFormAction, LinkText:
			default:
				t.Fatalf("link %q: kind %q", l, l.Kind)
			}
			if utf8.RuneCountInString(l.Text) > MaxLinkText {
				t.Fatalf("link text of %d runes", utf8.RuneCountInString(l.Text))
			}
			if urlScheme(l.URL) == "data" && len(l.URL) > MaxDataURL {
				t.Fatalf("data URL of %d bytes", len(l.URL))
			}
			if l.Kind != LinkHref && l.Kind != LinkText && l.Text != "" {
				t.Fatalf("link %q of kind %s has a text", l, l.Kind)
			}
			if strings.TrimSpace(l.URL) != l.URL {
				t.Fatalf("link %q not trimmed", l.URL)
			}
		}
		if utf8.ValidString(s) {
			for _, l := range links {
				if !utf8.ValidString(l.URL) || !utf8.ValidString(l.Text) {
					t.Fatalf("link %q is not valid UTF-8 though the input is", l)
				}
			}
		}
	})
}
