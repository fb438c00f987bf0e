package text

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlText returns the text a reader sees in an HTML body, and the number
// of characters of quoted replies it left out. Unlike analyzers.HTMLText it
// also drops elements hidden from the reader (preheaders, tracking text)
// and the containers mail clients put quoted replies in.
func htmlText(s string) (string, int) {
	var sb, skipped strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	// stack holds, for each open element, whether it started a skipped
	// region; depth counts the skipped regions open.
	type open struct {
		a     atom.Atom
		skip  bool
		quote bool
	}
	var stack []open
	skip, quote := 0, 0
	// tail is set at Outlook's reply marker: the quoted message follows it
	// in sibling elements, not inside it.
	tail := false
	newline := func() {
		if sb.Len() > 0 && !strings.HasSuffix(sb.String(), "\n") {
			sb.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return sb.String(), utf8.RuneCountInString(skipped.String())
		case html.TextToken:
			txt := string(z.Text())
			if skip > 0 || tail {
				if quote > 0 || tail {
					skipped.WriteString(strings.Join(strings.Fields(txt), " "))
				}
				continue
			}
			if strings.TrimSpace(txt) == "" {
				continue
			}
			if sb.Len() > 0 && !strings.HasSuffix(sb.String(), "\n") && (txt[0] == ' ' || txt[0] == '\t' || txt[0] == '\n') {
				sb.WriteByte(' ')
			}
			sb.WriteString(strings.Join(strings.Fields(txt), " "))
			if last := txt[len(txt)-1]; last == ' ' || last == '\n' || last == '\t' {
				sb.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			hidden, isQuote := false, false
			switch a {
			case atom.Script, atom.Style, atom.Title, atom.Head, atom.Template, atom.Noscript:
				hidden = true
			case atom.Blockquote:
				isQuote = true
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				key, val := string(k), strings.ToLower(string(v))
				switch key {
				case "hidden":
					hidden = true
				case "aria-hidden":
					hidden = hidden || val == "true"
				case "style":
					c := strings.ReplaceAll(val, " ", "")
					if strings.Contains(c, "display:none") || strings.Contains(c, "visibility:hidden") || strings.Contains(c, "font-size:0") || strings.Contains(c, "max-height:0") {
						hidden = true
					}
				case "class", "id":
					if strings.Contains(val, "gmail_quote") || strings.Contains(val, "yahoo_quoted") || strings.Contains(val, "moz-cite-prefix") ||
						strings.Contains(val, "protonmail_quote") {
						isQuote = true
					}
					if val == "divrplyfwdmsg" || val == "appendonsend" {
						tail = true
					}
				case "type":
					if val == "cite" && a == atom.Blockquote {
						isQuote = true
					}
				}
			}
			if a == atom.Br || a == atom.Hr || a == atom.Img || a == atom.Meta || a == atom.Link || a == atom.Input || tt == html.SelfClosingTagToken {
				if a == atom.Br || a == atom.Hr {
					newline()
				}
				continue
			}
			if isBlock(a) {
				newline()
			}
			o := open{a: a, skip: hidden || isQuote, quote: isQuote}
			if o.skip {
				skip++
			}
			if o.quote {
				quote++
			}
			stack = append(stack, o)
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			// Close up to the matching element; browsers forgive
			// unclosed tags and so must this.
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].a != a {
					continue
				}
				for _, o := range stack[i:] {
					if o.skip {
						skip--
					}
					if o.quote {
						quote--
					}
				}
				stack = stack[:i]
				break
			}
			if isBlock(a) {
				newline()
			}
		}
	}
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Tr, atom.Li, atom.Table, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Ul, atom.Ol, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Pre, atom.Td:
		return true
	}
	return false
}
