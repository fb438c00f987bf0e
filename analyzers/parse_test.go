package analyzers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	eicarSHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	samples     = "../examples/mail"
)

func parseSample(t testing.TB, name string) *Message {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(raw, ParseOptions{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// partSummary is what TestParseSamples compares for every part.
type partSummary struct {
	Path, ContentType, Filename string
	Attachment                  bool
}

func summarize(ps []Part) []partSummary {
	out := make([]partSummary, len(ps))
	for i, p := range ps {
		out[i] = partSummary{p.Path, p.ContentType, p.Filename, p.Attachment}
	}
	return out
}

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file     string
		subject  string
		fromName string
		from     string
		text     string // a substring of Text
		html     string // a substring of HTML
		parts    []partSummary
		urls     []string
		nested   int
	}{
		{
			file:     "01-plain-order-question.eml",
			subject:  "Question about order #BL-104233",
			fromName: "Dana Whitfield", from: "dana.whitfield@mailbox.example",
			text:  "Ridgeline 45L backpack",
			parts: []partSummary{{"1", "text/plain", "", false}},
			urls:  []string{"https://brightlane.example/products/ridgeline-45l"},
		},
		{
			file:     "04-cancel-my-account.eml",
			subject:  "Cancel my account",
			fromName: "Tomas Lindqvist", from: "t.lindqvist@nordpost.example",
			// quoted-printable soft line break joined back
			text: "I've unsubscribed from your emails four times",
			html: "<p>Please cancel my Brightlane account",
			parts: []partSummary{
				{"1", "text/plain", "", false},
				{"2", "text/html", "", false},
			},
		},
		{
			file:    "06-html-only-shipping-update.eml",
			subject: "Your order BL-104233 has shipped",
			from:    "orders@brightlane.example", fromName: "Brightlane Orders",
			html:  `<a href="https://track.parcelway.example/t/PW55012398NL">`,
			parts: []partSummary{{"1", "text/html", "", false}},
			urls: []string{
				"https://cdn.brightlane.example/mail/logo.png",
				"https://track.parcelway.example/t/PW55012398NL",
				"https://brightlane.example/help",
			},
		},
		{
			file:     "12-german-latin1-qp.eml",
			subject:  "Rückerstattung für Bestellung BL-102944",
			fromName: "Jürgen Weiß", from: "j.weiss@kundenpost.example",
			text:  "Außerdem: Die Rücksendeetikette im Paket war für Österreich",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
		{
			file:     "13-russian-windows1251.eml",
			subject:  "Где мой заказ?",
			fromName: "Алексей Смирнов", from: "a.smirnov@pochta.example",
			text:  "Я заказал палатку «Северный ветер» три недели назад",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
		{
			file:     "14-japanese-iso2022jp.eml",
			subject:  "サイズ交換のお願い",
			fromName: "佐藤 花子", from: "hanako.sato@mail.jp.example",
			text:  "注文番号 BL-101455 の寝袋について、サイズ交換は可能でしょうか。",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
		{
			file:     "15-japanese-shift-jis.eml",
			subject:  "ランタンのお礼",
			fromName: "田中 一郎", from: "ichiro.tanaka@mail.jp.example",
			text:  "キャンプで大活躍でした",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
		{
			file: "16-french-windows1252-qp.eml",
			// € and – are where windows-1252 differs from ISO-8859-1
			subject:  "Facture erronée – 129 € au lieu de 109 €",
			fromName: "Amélie Lefèvre", from: "amelie.lefevre@courriel.example",
			text:  "Cœur sur l'équipe — Amélie Lefèvre",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
		{
			file:     "17-forwarded-quote-rfc822.eml",
			subject:  "Fwd: Quote Q-7731 for 40 units Ridgeline 45L",
			fromName: "Nora Quinn", from: "nora.quinn@brightlane.example",
			text: "Forwarding the Harbor Trail quote",
			parts: []partSummary{
				{"1", "text/plain", "", false},
				{"2", "message/rfc822", "Quote Q-7731.eml", true},
				{"2.1", "text/plain", "", false},
				{"2.2", "application/pdf", "Q-7731.pdf", true},
			},
			urls:   []string{"https://harbortrail.example/quotes/Q-7731"},
			nested: 1,
		},
		{
			file:     "18-phish-display-name-spoof.eml",
			subject:  "Action required: your Brightlane account will be suspended",
			fromName: "support@brightlane.example", from: "alerts@brightlane-support.example",
			text: "confirm your details at",
			html: `<a href="http://brightlane-account-verify.example/login?id=8812&amp;r=mail">https://brightlane.example/account/verify</a>`,
			parts: []partSummary{
				{"1", "text/plain", "", false},
				{"2", "text/html", "", false},
			},
			urls: []string{
				"https://brightlane.example/account/verify",
				// &amp; in the attribute is unescaped
				"http://brightlane-account-verify.example/login?id=8812&r=mail",
			},
		},
		{
			file:     "25-forward-chain-nested-twice.eml",
			subject:  "Fwd: Fwd: Backpack strap question",
			fromName: "Mei Chen", from: "mei.chen@brightlane.example",
			text: "SKU RL45-HIP",
			parts: []partSummary{
				{"1", "text/plain", "", false},
				{"2", "message/rfc822", "", true},
				{"2.1", "text/plain", "", false},
				{"2.2", "message/rfc822", "", true},
				{"2.2.1", "text/plain", "", false},
			},
			nested: 1,
		},
		{
			file:     "26-calendar-invite.eml",
			subject:  "Invitation: Winter sale support briefing",
			fromName: "Nora Quinn", from: "nora.quinn@brightlane.example",
			text: "Tuesday 24 November",
			parts: []partSummary{
				{"1.1", "text/plain", "", false},
				{"1.2", "text/calendar", "", true},
				{"2", "application/ics", "invite.ics", true},
			},
		},
		{
			file:     "32-base64-utf8-emoji.eml",
			subject:  "Love my new gear 🔥⛺",
			fromName: "Zoë Martin", from: "zoe.martin@inbox.test",
			text:  "the tent ⛺ — both are amazing",
			parts: []partSummary{{"1", "text/plain", "", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := parseSample(t, tt.file)
			if m.Header.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Header.Subject, tt.subject)
			}
			if len(m.Header.From) != 1 || m.Header.From[0].Name != tt.fromName || m.Header.From[0].Address != tt.from {
				t.Errorf("From = %v, want %q <%s>", m.Header.From, tt.fromName, tt.from)
			}
			if !strings.Contains(m.Text, tt.text) {
				t.Errorf("Text does not contain %q:\n%s", tt.text, m.Text)
			}
			if !strings.Contains(m.HTML, tt.html) {
				t.Errorf("HTML does not contain %q:\n%s", tt.html, m.HTML)
			}
			if tt.html == "" && m.HTML != "" {
				t.Errorf("HTML = %q, want none", m.HTML)
			}
			if got := summarize(m.Parts); !slices.Equal(got, tt.parts) {
				t.Errorf("Parts =\n%v\nwant\n%v", got, tt.parts)
			}
			if !slices.Equal(m.URLs, tt.urls) {
				t.Errorf("URLs = %q, want %q", m.URLs, tt.urls)
			}
			if len(m.Nested) != tt.nested {
				t.Errorf("len(Nested) = %d, want %d", len(m.Nested), tt.nested)
			}
			if len(m.Problems) > 0 {
				t.Errorf("Problems = %v, want none", m.Problems)
			}
			if strings.Contains(m.Text, "\r") {
				t.Errorf("Text keeps CR characters")
			}
		})
	}
}

// TestParseSamplesAll holds every sample to the invariants analyzers rely
// on, and keeps the one malformed sample the only one with Problems.
func TestParseSamplesAll(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("%d samples in %s, want at least 30", len(files), samples)
	}
	for _, f := range files {
		m := parseSample(t, filepath.Base(f))
		checkInvariants(t, m)
		malformed := strings.Contains(f, "malformed")
		if malformed != (len(m.Problems) > 0) {
			t.Errorf("%s: Problems = %v", filepath.Base(f), m.Problems)
		}
	}
}

func checkInvariants(t *testing.T, m *Message) {
	t.Helper()
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || !utf8.ValidString(m.Header.Subject) {
		t.Errorf("Text, HTML or Subject is not valid UTF-8")
	}
	seen := map[string]bool{}
	for _, p := range m.Parts {
		if p.Path == "" || seen[p.Path] {
			t.Errorf("part path %q empty or repeated", p.Path)
		}
		seen[p.Path] = true
		if !p.Truncated && (int64(len(p.Content)) != p.Size || sha(p.Content) != p.SHA256) {
			t.Errorf("part %s: Size %d / SHA256 %s do not match its %d bytes of Content", p.Path, p.Size, p.SHA256, len(p.Content))
		}
		if p.Truncated && int64(len(p.Content)) >= p.Size {
			t.Errorf("part %s: Truncated but holds all %d bytes", p.Path, p.Size)
		}
	}
	for _, a := range m.Attachments {
		if !a.Attachment || !seen[a.Path] {
			t.Errorf("attachment %s is not an attachment part of the message", a.Path)
		}
	}
	urls := map[string]bool{}
	for _, u := range m.URLs {
		if urls[u] {
			t.Errorf("URL %q listed twice", u)
		}
		urls[u] = true
	}
}

func TestParseAttachments(t *testing.T) {
	tests := []struct {
		file, path, filename, contentType string
		size                              int64
		sha256                            string
		prefix                            string // first bytes of the content
	}{
		{"08-mixed-invoice-pdf.eml", "2", "INV-2026-0418.pdf", "application/pdf", 347, "", "%PDF-1.4"},
		{"09-photo-damaged-item.eml", "2", "damage.png", "image/png", 83, "", "\x89PNG\r\n\x1a\n"},
		{"10-docx-contract-draft.eml", "2", "Wholesale_Agreement_draft3.docx",
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document", 1144, "", "PK\x03\x04"},
		{"11-zip-app-logs.eml", "2", "app-logs.zip", "application/zip", 384, "", "PK\x03\x04"},
		{"17-forwarded-quote-rfc822.eml", "2.2", "Q-7731.pdf", "application/pdf", 347, "", "%PDF-1.4"},
		{"21-risky-invoice-pdf-exe.eml", "2", "invoice.pdf.exe", "application/octet-stream", 161, "", "MZ"},
		{"23-eicar-test-attachment.eml", "2", "eicar-test.txt", "text/plain", 68, eicarSHA256, "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := parseSample(t, tt.file)
			var got *Part
			for _, a := range m.Attachments {
				if a.Path == tt.path {
					got = a
				}
			}
			if got == nil {
				t.Fatalf("no attachment at part %s; attachments: %v", tt.path, summarizePtrs(m.Attachments))
			}
			if got.Filename != tt.filename || got.ContentType != tt.contentType || got.Size != tt.size {
				t.Errorf("attachment = %q %s %d bytes, want %q %s %d bytes", got.Filename, got.ContentType, got.Size, tt.filename, tt.contentType, tt.size)
			}
			if tt.sha256 != "" && got.SHA256 != tt.sha256 {
				t.Errorf("SHA256 = %s, want %s", got.SHA256, tt.sha256)
			}
			if !bytes.HasPrefix(got.Content, []byte(tt.prefix)) {
				t.Errorf("content starts %q, want %q", got.Content[:min(len(got.Content), 16)], tt.prefix)
			}
		})
	}
}

func summarizePtrs(ps []*Part) []partSummary {
	var out []partSummary
	for _, p := range ps {
		out = append(out, partSummary{p.Path, p.ContentType, p.Filename, p.Attachment})
	}
	return out
}

func TestParseMalformedSample(t *testing.T) {
	m := parseSample(t, "24-malformed-broken-base64.eml")
	want := []struct{ part, err string }{
		{"2", "illegal base64 data at byte 271 (line 4 of the part body); kept the 201 bytes decoded before it"},
		{"2", `multipart/mixed ends without its closing boundary "erp-rep-b"`},
	}
	if len(m.Problems) != len(want) {
		t.Fatalf("Problems = %v, want %d", m.Problems, len(want))
	}
	for i, w := range want {
		if p := m.Problems[i]; p.Part != w.part || !strings.Contains(p.Err, w.err) {
			t.Errorf("Problems[%d] = %+v, want part %s with %q", i, p, w.part, w.err)
		}
	}
	// What decoded before the damage is still there to be scanned.
	if len(m.Parts) != 2 || !bytes.HasPrefix(m.Parts[1].Content, []byte("%PDF-1.4")) || m.Parts[1].Size != 201 {
		t.Errorf("part 2 = %d bytes starting %q, want the 201 bytes decoded before the damage", m.Parts[1].Size, m.Parts[1].Content[:8])
	}
	if m.Text != "Automatic monthly supplier report attached.\n" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestParseHeader(t *testing.T) {
	m := parseSample(t, "03-still-waiting-third-email.eml")
	h := m.Header
	if h.MessageID != "<a81c2f04-77de-4b3e-9f51-2c7d1e0a9b11@inbox.test>" {
		t.Errorf("MessageID = %q", h.MessageID)
	}
	if want := time.Date(2026, 11, 4, 1, 33, 55, 0, time.UTC); !h.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", h.Date, want)
	}
	if h.DateRaw != "Wed, 04 Nov 2026 07:03:55 +0530" {
		t.Errorf("DateRaw = %q", h.DateRaw)
	}
	if h.ReturnPath != "priya.raman@inbox.test" {
		t.Errorf("ReturnPath = %q", h.ReturnPath)
	}
	if len(h.To) != 1 || h.To[0].Address != "support@brightlane.example" {
		t.Errorf("To = %v", h.To)
	}
	if got := h.Get("in-reply-to"); got != "<reply-8812.support@brightlane.example>" {
		t.Errorf("Get(in-reply-to) = %q", got)
	}
	if h.Fields[0].Key != "Return-Path" || h.Fields[len(h.Fields)-1].Key != "Content-Transfer-Encoding" {
		t.Errorf("Fields not in order: first %q, last %q", h.Fields[0].Key, h.Fields[len(h.Fields)-1].Key)
	}

	m = parseSample(t, "20-missing-date-and-message-id.eml")
	if !m.Header.Date.IsZero() || m.Header.DateRaw != "" || m.Header.MessageID != "" {
		t.Errorf("Date %v, DateRaw %q, MessageID %q; want all empty", m.Header.Date, m.Header.DateRaw, m.Header.MessageID)
	}

	m = parseSample(t, "18-phish-display-name-spoof.eml")
	if len(m.Header.ReplyTo) != 1 || m.Header.ReplyTo[0].Address != "verify-team@secure-mailbox.test" {
		t.Errorf("ReplyTo = %v", m.Header.ReplyTo)
	}

	m = parseSample(t, "29-multiple-from-addresses.eml")
	if len(m.Header.From) != 2 || m.Header.From[1].Address != "winner@prize-desk.example" {
		t.Errorf("From = %v, want two addresses", m.Header.From)
	}
}

func TestParseNotMessage(t *testing.T) {
	png := parseSample(t, "09-photo-damaged-item.eml").Parts[1].Content
	tests := map[string][]byte{
		"empty":        nil,
		"blank lines":  []byte("\r\n\r\n  \n"),
		"png":          png,
		"text file":    []byte("Shopping list\n- milk\n- bread: two loaves\n"),
		"indented":     []byte("  Subject: hi\n\nbody\n"),
		"mbox line":    []byte("From someone@example.com Mon Nov  2 09:00:00 2026\n"),
		"binary noise": {0x00, 0x9c, 0xff, ':', 'x', '\n'},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(in, ParseOptions{})
			if !errors.Is(err, ErrNotMessage) || m != nil {
				t.Fatalf("Parse = %v, %v; want nil and ErrNotMessage", m, err)
			}
		})
	}
	_, err := Parse([]byte("just text, no header\n"), ParseOptions{})
	if want := "not an email message: no header fields"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// nestMultipart wraps a text part in n levels of multipart/mixed.
func nestMultipart(n int) []byte {
	var b strings.Builder
	b.WriteString("From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\nContent-Type: text/plain\n\ndeep text\n", n-1)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return []byte(b.String())
}

// nestMessages wraps a message in n levels of message/rfc822.
func nestMessages(n int) []byte {
	msg := "From: a@example.com\nSubject: level 0\n\ninnermost\n"
	for i := 1; i <= n; i++ {
		msg = fmt.Sprintf("From: a@example.com\nSubject: level %d\nContent-Type: message/rfc822\n\n%s", i, msg)
	}
	return []byte(msg)
}

func TestParseMalformed(t *testing.T) {
	const hdr = "From: Ann <ann@example.com>\nTo: bob@example.com\nSubject: test\n"
	bigHeader := hdr + "X-Filler: " + strings.Repeat("x", maxHeaderBytes) + "\nX-After: dropped\n\nbody after a huge header\n"
	tests := []struct {
		name     string
		in       string
		opts     ParseOptions
		problems []Problem // Err is a substring
		check    func(t *testing.T, m *Message)
	}{
		{
			name:     "unknown charset",
			in:       hdr + "Content-Type: text/plain; charset=x-klingon\n\nqapla\n",
			problems: []Problem{{"1", `unknown charset "x-klingon"`}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "qapla\n" {
					t.Errorf("Text = %q, want the bytes as they are", m.Text)
				}
			},
		},
		{
			name:     "unknown transfer encoding",
			in:       hdr + "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nfirst\n--x\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n--x\nContent-Type: text/plain\n\nthird\n--x--\n",
			problems: []Problem{{"2", `unknown Content-Transfer-Encoding "x-uuencode"`}},
			check: func(t *testing.T, m *Message) {
				if len(m.Parts) != 3 || string(m.Parts[1].Content) != "begin 644 f" || m.Text != "first\nthird" {
					t.Errorf("parts %v, text %q: want all three parts, the second as sent", summarize(m.Parts), m.Text)
				}
			},
		},
		{
			name:     "bad base64 at top level",
			in:       hdr + "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0x\nLj*0\n",
			problems: []Problem{{"1", "illegal base64 data at byte 11 (line 2"}},
			check: func(t *testing.T, m *Message) {
				if string(m.Parts[0].Content) != "%PDF-1" {
					t.Errorf("Content = %q, want what decoded before the fault", m.Parts[0].Content)
				}
			},
		},
		{
			name:     "bad quoted-printable",
			in:       hdr + "Content-Transfer-Encoding: quoted-printable\n\nok=20so far\x01then not\n",
			problems: []Problem{{"1", "quotedprintable: invalid unescaped byte 0x01"}},
		},
		{
			name:     "missing closing boundary",
			in:       hdr + "Content-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain\n\nplain\n--alt\nContent-Type: text/html\n\n<p>html</p>\n",
			problems: []Problem{{"2", `multipart/alternative ends without its closing boundary "alt"`}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "plain" || m.HTML != "<p>html</p>" {
					t.Errorf("Text %q, HTML %q: want both parts kept", m.Text, m.HTML)
				}
			},
		},
		{
			name:     "no boundary parameter",
			in:       hdr + "Content-Type: multipart/mixed\n\nsome text\n",
			problems: []Problem{{"message", "multipart/mixed without a boundary"}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "some text\n" {
					t.Errorf("Text = %q", m.Text)
				}
			},
		},
		{
			name:     "boundary never found",
			in:       hdr + "Content-Type: multipart/mixed; boundary=zzz\n\nthe body has no parts\n",
			problems: []Problem{{"message", `no part with boundary "zzz" found`}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "the body has no parts\n" {
					t.Errorf("Text = %q", m.Text)
				}
			},
		},
		{
			name:     "unparseable content type",
			in:       hdr + "Content-Type: what is this\n\nhello\n",
			problems: []Problem{{"1", `Content-Type "what is this" cannot be parsed`}},
		},
		{
			name:     "multipart nested deeper than MaxDepth",
			in:       string(nestMultipart(60)),
			problems: []Problem{{"1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", "nesting deeper than 50 levels"}},
		},
		{
			name:     "messages nested deeper than MaxDepth",
			in:       string(nestMessages(12)),
			opts:     ParseOptions{MaxDepth: 5},
			problems: []Problem{{"1.1.1.1.1", "attached message nested deeper than 5 levels"}},
			check: func(t *testing.T, m *Message) {
				depth := 0
				for n := m; len(n.Nested) > 0; n = n.Nested[0] {
					depth++
				}
				if depth != 4 {
					t.Errorf("%d nested messages parsed, want 4", depth)
				}
			},
		},
		{
			name:     "huge header",
			in:       bigHeader,
			problems: []Problem{{"header", "header larger than 1048576 bytes"}},
			check: func(t *testing.T, m *Message) {
				if m.Header.Subject != "test" || m.Header.Get("X-After") != "" || m.Text != "body after a huge header\n" {
					t.Errorf("Subject %q, X-After %q, Text %q", m.Header.Subject, m.Header.Get("X-After"), m.Text)
				}
			},
		},
		{
			name:     "huge part header",
			in:       hdr + "Content-Type: multipart/mixed; boundary=x\n\n--x\nX-Filler: " + strings.Repeat("y", maxHeaderBytes) + "\n\npart one\n--x--\n",
			problems: []Problem{{"1", "part header of 1048588 bytes, larger than 1048576"}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "part one" {
					t.Errorf("Text = %q", m.Text)
				}
			},
		},
		{
			name:     "broken address among good ones",
			in:       "From: Ann <ann@example.com\nTo: bob@example.com, not an address, carol@example.com\nSubject: x\n\nbody\n",
			problems: []Problem{{"header", `From: cannot parse address "Ann <ann@example.com"`}, {"header", `To: cannot parse address "not an address"`}},
			check: func(t *testing.T, m *Message) {
				if len(m.Header.From) != 1 || m.Header.From[0].Address != "ann@example.com" || m.Header.From[0].Name != "Ann" {
					t.Errorf("From = %v, want Ann salvaged", m.Header.From)
				}
				if len(m.Header.To) != 2 || m.Header.To[1].Address != "carol@example.com" {
					t.Errorf("To = %v, want bob and carol", m.Header.To)
				}
			},
		},
		{
			name:     "bad date",
			in:       "From: a@example.com\nDate: the day after tomorrow\n\nbody\n",
			problems: []Problem{{"header", `Date: "the day after tomorrow"`}},
			check: func(t *testing.T, m *Message) {
				if !m.Header.Date.IsZero() || m.Header.DateRaw != "the day after tomorrow" {
					t.Errorf("Date %v, DateRaw %q", m.Header.Date, m.Header.DateRaw)
				}
			},
		},
		{
			name:     "unknown charset in subject",
			in:       "From: a@example.com\nSubject: =?x-klingon?Q?qapla?=\n\nbody\n",
			problems: []Problem{{"header", "Subject: "}},
			check: func(t *testing.T, m *Message) {
				if m.Header.Subject != "=?x-klingon?Q?qapla?=" {
					t.Errorf("Subject = %q, want it as written", m.Header.Subject)
				}
			},
		},
		{
			name:     "no blank line after the header",
			in:       "From: a@example.com\nSubject: hi\nthis line starts the body\nand this\n",
			problems: []Problem{{"header", "ends the header early"}},
			check: func(t *testing.T, m *Message) {
				if m.Header.Subject != "hi" || m.Text != "this line starts the body\nand this\n" {
					t.Errorf("Subject %q, Text %q", m.Header.Subject, m.Text)
				}
			},
		},
		{
			name:     "unreadable part header",
			in:       hdr + "Content-Type: multipart/mixed; boundary=x\n\n--x\n\nfirst\n--x\n bad: continuation first\n\nsecond\n--x--\n",
			problems: []Problem{{"2", "unreadable part"}},
			check: func(t *testing.T, m *Message) {
				if m.Text != "first" {
					t.Errorf("Text = %q, want the first part kept", m.Text)
				}
			},
		},
		{
			name:     "attached message without a header",
			in:       hdr + "Content-Type: message/rfc822\n\nno header here\n",
			problems: []Problem{{"1", "attached message kept as a file: not an email message: no header fields"}},
			check: func(t *testing.T, m *Message) {
				if len(m.Attachments) != 1 || len(m.Nested) != 0 {
					t.Errorf("%d attachments, %d nested; want the part kept as a file only", len(m.Attachments), len(m.Nested))
				}
			},
		},
		{
			name:     "attached message whose multipart body has no boundary",
			in:       hdr + "Content-Type: message/rfc822\n\nFrom: x@example.com\nContent-Type: multipart/mixed\n\ninner text\n",
			problems: []Problem{{"1", "multipart/mixed without a boundary"}},
			check: func(t *testing.T, m *Message) {
				if got := summarize(m.Parts); len(got) != 2 || got[1].Path != "1.1" || m.Nested[0].Text != "inner text\n" {
					t.Errorf("parts %v, nested text %q; want the body kept as part 1.1", got, m.Nested[0].Text)
				}
			},
		},
		{
			name:     "problem inside an attached message",
			in:       hdr + "Content-Type: message/rfc822\n\nFrom: x@example.com\nDate: soon\nContent-Transfer-Encoding: base64\n\n!!!!\n",
			problems: []Problem{{"1.header", `Date: "soon"`}, {"1.1", "illegal base64"}},
			check: func(t *testing.T, m *Message) {
				if len(m.Nested) != 1 || len(m.Nested[0].Problems) != 2 {
					t.Errorf("nested problems not kept on the nested message too")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in), tt.opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(m.Problems) != len(tt.problems) {
				t.Fatalf("Problems = %q, want %d: %q", m.Problems, len(tt.problems), tt.problems)
			}
			for i, want := range tt.problems {
				if got := m.Problems[i]; got.Part != want.Part || !strings.Contains(got.Err, want.Err) {
					t.Errorf("Problems[%d] = %+v, want part %q with %q", i, got, want.Part, want.Err)
				}
			}
			checkInvariants(t, m)
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, m *Message)
	}{
		{
			name: "base64 without padding",
			in:   "From: a@example.com\nContent-Transfer-Encoding: base64\n\naGVsbG8\n",
			check: func(t *testing.T, m *Message) {
				if m.Text != "hello" {
					t.Errorf("Text = %q", m.Text)
				}
			},
		},
		{
			name: "mbox From line and CRLF",
			in:   "From sender@example.com Mon Nov  2 09:00:00 2026\r\nFrom: a@example.com\r\nSubject: mbox\r\n\r\nline one\r\nline two\r\n",
			check: func(t *testing.T, m *Message) {
				if m.Header.Subject != "mbox" || m.Text != "line one\nline two\n" {
					t.Errorf("Subject %q, Text %q", m.Header.Subject, m.Text)
				}
			},
		},
		{
			name: "undeclared 8-bit text read as windows-1252",
			in:   "From: a@example.com\nSubject: caf\xe9\n\nna\xefve \x80 5\n",
			check: func(t *testing.T, m *Message) {
				if m.Header.Subject != "café" || m.Text != "naïve € 5\n" {
					t.Errorf("Subject %q, Text %q", m.Header.Subject, m.Text)
				}
			},
		},
		{
			name: "HTML charset from meta",
			in:   "From: a@example.com\nContent-Type: text/html\n\n<meta charset=\"windows-1251\"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>\n",
			check: func(t *testing.T, m *Message) {
				if !strings.Contains(m.HTML, "<p>Привет</p>") {
					t.Errorf("HTML = %q", m.HTML)
				}
			},
		},
		{
			name: "RFC 2231 file name",
			in:   "From: a@example.com\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\n\n%PDF\n",
			check: func(t *testing.T, m *Message) {
				if len(m.Attachments) != 1 || m.Attachments[0].Filename != "Rechnung März.pdf" {
					t.Errorf("attachments %v", summarizePtrs(m.Attachments))
				}
			},
		},
		{
			name: "RFC 2047 file name and a bad parameter",
			in:   "From: a@example.com\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?0YHRh9C10YIuZXhl?=\"; x=\"unclosed\n\nMZ\n",
			check: func(t *testing.T, m *Message) {
				if len(m.Attachments) != 1 || m.Attachments[0].Filename != "счет.exe" {
					t.Errorf("attachments %v", summarizePtrs(m.Attachments))
				}
			},
		},
		{
			name: "group syntax and no recipients",
			in:   "From: a@example.com\nTo: undisclosed-recipients:;\nCc: Team: b@example.com, c@example.com;\n\nhi\n",
			check: func(t *testing.T, m *Message) {
				if len(m.Header.To) != 0 || len(m.Header.Cc) != 2 {
					t.Errorf("To %v, Cc %v", m.Header.To, m.Header.Cc)
				}
			},
		},
		{
			name: "text part with a file name is an attachment",
			in:   "From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nbody\n--x\nContent-Type: text/plain; name=notes.txt\n\nnotes\n--x--\n",
			check: func(t *testing.T, m *Message) {
				if m.Text != "body" || len(m.Attachments) != 1 || m.Attachments[0].Filename != "notes.txt" {
					t.Errorf("Text %q, attachments %v", m.Text, summarizePtrs(m.Attachments))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in), ParseOptions{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(m.Problems) > 0 {
				t.Errorf("Problems = %v, want none", m.Problems)
			}
			checkInvariants(t, m)
			tt.check(t, m)
		})
	}
}

func TestParseMaxPartSize(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	in := "From: a@example.com\nContent-Type: application/octet-stream\n\n" + body
	m, err := Parse([]byte(in), ParseOptions{MaxPartSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Parts[0]
	if !p.Truncated || len(p.Content) != 64 || p.Size != 1000 || p.SHA256 != sha([]byte(body)) {
		t.Errorf("Truncated %v, %d bytes kept, Size %d, SHA256 %s; want 64 of 1000 bytes kept, hash of all", p.Truncated, len(p.Content), p.Size, p.SHA256)
	}
}

func TestParseNestedURLsAndAttachments(t *testing.T) {
	m := parseSample(t, "17-forwarded-quote-rfc822.eml")
	if len(m.Attachments) != 2 || m.Attachments[1].Filename != "Q-7731.pdf" {
		t.Errorf("top-level Attachments = %v, want the .eml and the PDF inside it", summarizePtrs(m.Attachments))
	}
	n := m.Nested[0]
	if n.Header.Subject != "Quote Q-7731 for 40 units Ridgeline 45L" || !strings.Contains(n.Text, "Valid until") {
		t.Errorf("nested Subject %q, Text %q", n.Header.Subject, n.Text)
	}
	if len(n.Attachments) != 1 || n.Attachments[0].Path != "2.2" {
		t.Errorf("nested Attachments = %v", summarizePtrs(n.Attachments))
	}
	if strings.Contains(m.Text, "Valid until") {
		t.Errorf("the attached message's text leaked into the outer Text")
	}
}

func TestTextURLs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"see https://example.com/a.", []string{"https://example.com/a"}},
		{"(https://example.com/x) and www.example.org/path, ok?", []string{"https://example.com/x", "http://www.example.org/path"}},
		{"wiki https://en.example.org/wiki/Foo_(bar) end", []string{"https://en.example.org/wiki/Foo_(bar)"}},
		{"<https://example.com/q?a=1&b=2>", []string{"https://example.com/q?a=1&b=2"}},
		{"HTTPS://EXAMPLE.COM/UP and ftp://files.example.com/f.zip", []string{"HTTPS://EXAMPLE.COM/UP", "ftp://files.example.com/f.zip"}},
		{"nothing here: http:// or www. alone", nil},
		{"mail me at someone@example.com", nil},
	}
	for _, tt := range tests {
		if got := textURLs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("textURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHTMLURLs(t *testing.T) {
	in := `<a href=" https://a.example/x ">https://shown.example/</a>
<img src="cid:logo"><a href="mailto:x@example.com">m</a><a href="/relative">r</a>
<form action="http://collect.example/post"></form><script>var u = "https://script.example/s";</script>`
	want := []string{"https://a.example/x", "https://shown.example/", "http://collect.example/post", "https://script.example/s"}
	if got := htmlURLs(in); !slices.Equal(got, want) {
		t.Errorf("htmlURLs = %q, want %q", got, want)
	}
}

func TestHTMLText(t *testing.T) {
	in := `<html><head><title>T</title><style>p{color:red}</style></head><body>
<h1>Hello</h1><p>first   line<br>second &amp; more</p><script>alert(1)</script><div>last</div></body></html>`
	want := "Hello\nfirst line\nsecond & more\nlast"
	if got := HTMLText(in); got != want {
		t.Errorf("HTMLText = %q, want %q", got, want)
	}
}

func BenchmarkParse(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no samples: %v", err)
	}
	var raws [][]byte
	var total int64
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
		total += int64(len(raw))
	}
	b.SetBytes(total / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := Parse(raws[i%len(raws)], ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(samples, "*.eml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add(nestMultipart(8))
	f.Add(nestMessages(8))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, ParseOptions{MaxDepth: 10, MaxPartSize: 1 << 10})
		if errors.Is(err, errParserBug) {
			t.Fatal(err)
		}
		if err != nil {
			if m != nil || !errors.Is(err, ErrNotMessage) {
				t.Fatalf("Parse = %v, %v; want nil and ErrNotMessage", m, err)
			}
			return
		}
		if len(m.Header.Fields) == 0 {
			t.Fatalf("message without header fields accepted")
		}
		checkInvariants(t, m)
		if len(m.Problems) > maxProblems+1 {
			t.Fatalf("%d problems listed, want at most %d", len(m.Problems), maxProblems+1)
		}
	})
}
