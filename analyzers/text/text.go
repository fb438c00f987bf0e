// Package text finds the words a sender wrote in a message: the text/plain
// body (or the text of the HTML one), without the quoted history of the
// thread, forwarded messages, signatures and legal disclaimers. Sentiment,
// keywords and language read this, so that they judge the new message and
// not the replies it quotes. Quote and signature markers are recognised in
// English, German, French and Spanish.
package text

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mailsift/mailsift/analyzers"
)

// Source of the extracted text.
const (
	SourcePlain = "text/plain"
	SourceHTML  = "text/html"
	SourceNone  = "none"
)

// Extract is a message's own words and what was cut to get them.
type Extract struct {
	// Text is what the sender wrote, paragraphs separated by blank lines.
	Text string
	// Source is the body Text came from.
	Source string
	// Body is the length of the whole body in characters (runes), Quoted
	// and Signature the characters cut as quoted or forwarded history and
	// as signature or disclaimer.
	Body, Quoted, Signature int
	// Truncated says Text was cut at MaxBytes.
	Truncated bool
}

// MaxBytes bounds the text returned: nobody writes more by hand, and it
// bounds what the analyzers spend on a machine-made giant.
const MaxBytes = 64 << 10

// Summary is an Extract's bookkeeping in a result's data, so a report
// shows how much of a mail its text analyzers read.
type Summary struct {
	Source         string `json:"source"`
	Chars          int    `json:"chars"`
	BodyChars      int    `json:"body_chars"`
	QuotedChars    int    `json:"quoted_chars"`
	SignatureChars int    `json:"signature_chars"`
	Truncated      bool   `json:"truncated,omitempty"`
}

// Summary returns the bookkeeping of e.
func (e Extract) Summary() Summary {
	return Summary{Source: e.Source, Chars: utf8.RuneCountInString(e.Text), BodyChars: e.Body, QuotedChars: e.Quoted, SignatureChars: e.Signature, Truncated: e.Truncated}
}

// extractKey is the key of a message's Extract among its derived values.
type extractKey struct{}

// FromMessage extracts the sender's words from m: its text/plain body when
// that has any text, else the text of its HTML body. The extraction is
// done once per message and shared by every analyzer that asks (see
// analyzers.Message.Derived).
func FromMessage(m *analyzers.Message) Extract {
	return m.Derived(extractKey{}, func() any { return fromMessage(m) }).(Extract)
}

func fromMessage(m *analyzers.Message) Extract {
	if strings.TrimSpace(m.Text) != "" {
		return FromPlain(m.Text)
	}
	if strings.TrimSpace(m.HTML) != "" {
		return FromHTML(m.HTML)
	}
	return Extract{Source: SourceNone}
}

// FromPlain extracts the sender's words from a plain-text body.
func FromPlain(body string) Extract {
	e := strip(body)
	e.Source = SourcePlain
	return e
}

// FromHTML extracts the sender's words from an HTML body: quoted replies
// that mail clients mark in the markup (blockquote, Gmail's and Outlook's
// reply containers) go first, then the text goes through the same line
// rules as plain text.
func FromHTML(body string) Extract {
	plain, quoted := htmlText(body)
	e := strip(plain)
	e.Source = SourceHTML
	e.Body += quoted
	e.Quoted += quoted
	return e
}

// Patterns are matched against one trimmed line. They are compiled once and
// only read afterwards.
var (
	// A reply header: "On Tue, 3 Nov 2026 at 10:02, Ana <a@b> wrote:" and
	// its German, French and Spanish forms. Clients wrap it, so it is also
	// tried on two lines joined.
	replyHeader = regexp.MustCompile(`(?i)^(on\s.{4,200}\swrote|am\s.{4,200}\sschrieb\s?.{0,200}|le\s.{4,200}\sa\s[ée]crit|el\s.{4,200}\sescribi[óo]|.{2,200}\s(wrote|schrieb|a\s[ée]crit|escribi[óo]))\s?:$`)
	// Separators mail clients put above a quoted or forwarded message.
	separator = regexp.MustCompile(`(?i)^[-_=*\s]*(original message|forwarded message|begin forwarded message|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine|message original|message transféré|début du message (réexpédié|transféré)|mensaje original|mensaje reenviado|forwarded by .*)[-_=*:\s]*$`)
	// Header lines of a quoted message as Outlook writes them.
	fromLine    = regexp.MustCompile(`(?i)^\*?(from|von|de|sender|absender|expéditeur|remitente)\s?\*?:\s?\*?\s*\S`)
	headerField = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|datum|envoyé|enviado|fecha|to|an|à|para|cc|subject|betreff|objet|asunto)\s?\*?:`)
	// Lines that end the sender's words and start a signature. "-- " is the
	// RFC 3676 signature separator; the rest are what phones append.
	signatureStart = regexp.MustCompile(`(?i)^(--|—|__+|sent from my .{2,40}|get outlook for .{2,30}|von meinem .{2,40} gesendet|gesendet von meinem .{2,40}|envoyé de mon .{2,40}|enviado desde mi .{2,40})$`)
	// Sign-offs: a line that is just one of these ends the message body
	// when only a short signature follows it.
	signOff = regexp.MustCompile(`(?i)^((best|kind|warm|many|with)?\s*(regards|wishes|thanks|thank you)|best|cheers|sincerely|yours( truly| sincerely)?|thanks( again| in advance)?|thx|many thanks|respectfully|` +
		`mit freundlichen grüßen|mit freundlichen gruessen|freundliche grüße|viele grüße|beste grüße|liebe grüße|gruß|grüße|lg|mfg|vielen dank|danke|` +
		`cordialement|bien cordialement|bien à vous|salutations|sincères salutations|merci( d'avance| beaucoup)?|bonne journée|amicalement|` +
		`saludos( cordiales)?|un saludo|atentamente|cordialmente|gracias( de antemano)?|muchas gracias|un abrazo)[\s,.!]*$`)
	// Disclaimer openings: from such a paragraph on, the rest is legal text.
	// It is anchored and tried only where one of disclaimerOpenings
	// starts: unanchored, its bounded repeats made a long line of prose
	// cost a millisecond.
	disclaimer = regexp.MustCompile(`(?i)^(this (e-?mail|message|communication)( and any (attachments?|files?)[^.]{0,40})? (is|are|may be|contains?) (strictly )?(confidential|privileged|intended)|confidentiality notice|disclaimer:|if you (are not|have received this).{0,40}(intended recipient|in error)|` +
		`diese (e-?mail|nachricht).{0,60}(vertraulich|enthält vertrauliche)|wenn sie nicht der (richtige|beabsichtigte) (adressat|empfänger)|` +
		`ce (message|courriel|e-?mail).{0,60}(confidentiel|strictement réservé)|si vous (n'êtes pas|avez reçu ce) .{0,40}(destinataire|par erreur)|` +
		`este (mensaje|correo).{0,60}(confidencial|privilegiad)|si (usted )?(no es|ha recibido este) .{0,40}(destinatario|por error))`)
)

// maxSignatureLines bounds what may follow a sign-off for it to count as
// the start of a signature: a name, a title, a phone number, an address.
const maxSignatureLines = 7

func strip(body string) Extract {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	e := Extract{Body: utf8.RuneCountInString(body)}
	lines := strings.Split(body, "\n")

	// Everything from a reply header, separator or quoted header block on
	// is history.
	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		if startsHistory(lines, i) {
			cut = i
			break
		}
	}
	kept := make([]string, 0, cut)
	for _, l := range lines[:cut] {
		// Inline quotes ("> ...") interleaved with answers go too.
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			e.Quoted += utf8.RuneCountInString(l) + 1
			continue
		}
		kept = append(kept, l)
	}
	for _, l := range lines[cut:] {
		e.Quoted += utf8.RuneCountInString(l) + 1
	}

	// Signature: from the first signature marker, or from a sign-off
	// followed by a short block, or from a disclaimer paragraph.
	sig := len(kept)
	for i, l := range kept {
		t := strings.TrimSpace(l)
		if l == "-- " || (t == "--" && i > 0) || (t != "--" && len(t) < 60 && signatureStart.MatchString(t)) {
			sig = i
			break
		}
		if isDisclaimer(t) {
			sig = paragraphStart(kept, i)
			break
		}
	}
	for i := 0; i < sig; i++ {
		t := strings.TrimSpace(kept[i])
		if i > 0 && len(t) < 40 && signOff.MatchString(t) && hasContent(kept[:i]) && shortTail(kept[i+1:sig]) {
			sig = i
			break
		}
	}
	for _, l := range kept[sig:] {
		e.Signature += utf8.RuneCountInString(l) + 1
	}
	e.Text = tidy(kept[:sig])
	if len(e.Text) > MaxBytes {
		cut := MaxBytes
		for cut > 0 && !utf8.RuneStart(e.Text[cut]) {
			cut--
		}
		e.Text, e.Truncated = e.Text[:cut], true
	}
	if e.Quoted > e.Body {
		e.Quoted = e.Body
	}
	if e.Quoted+e.Signature > e.Body {
		e.Signature = e.Body - e.Quoted
	}
	return e
}

// startsHistory reports whether the quoted or forwarded part of a message
// begins at line i. Cheap tests on the line's ends come first: the
// patterns are tried on few lines of a long mail.
func startsHistory(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	if t == "" {
		return false
	}
	if strings.HasSuffix(t, ":") && replyVerb(t) && replyHeader.MatchString(t) {
		return true
	}
	if (len(t) < 40 || strings.ContainsRune("-_=*", rune(t[0]))) && containsAny(t, separatorWords) && separator.MatchString(t) {
		return true
	}
	// A reply header wrapped over two lines.
	if i+1 < len(lines) && len(t) < 200 && !strings.HasSuffix(t, ":") && replyIntro(t) {
		if n := strings.TrimSpace(lines[i+1]); strings.HasSuffix(n, ":") && replyHeader.MatchString(t+" "+n) {
			return true
		}
	}
	// An Outlook-style block: "From:" and at least one more header field
	// in the next few lines.
	if strings.IndexByte(t[:min(len(t), 16)], ':') >= 0 && fromLine.MatchString(t) {
		for j := i + 1; j < len(lines) && j <= i+4; j++ {
			if l := strings.TrimSpace(lines[j]); strings.IndexByte(l[:min(len(l), 16)], ':') >= 0 && headerField.MatchString(l) {
				return true
			}
		}
	}
	return false
}

// replyIntro reports whether a line starts as a reply header does: "On",
// "Am", "Le" or "El" and a blank. It is asked of every line, so it is no
// pattern.
func replyIntro(t string) bool {
	if len(t) < 3 {
		return false
	}
	if t[2] != ' ' && t[2] != '\t' {
		return false
	}
	a, b := t[0]|0x20, t[1]|0x20 // ASCII lower case
	return a == 'o' && b == 'n' || a == 'a' && b == 'm' || a == 'l' && b == 'e' || a == 'e' && b == 'l'

}

// replyVerb reports whether a line ending in ":" holds a verb of the reply
// header pattern, before the pattern is tried.
func replyVerb(t string) bool {
	l := strings.ToLower(t[max(0, len(t)-420):])
	return strings.Contains(l, "wrote") || strings.Contains(l, "schrieb") || strings.Contains(l, "crit") || strings.Contains(l, "escribi")
}

// disclaimerOpenings are how the forms of the disclaimer pattern begin,
// lower case.
var disclaimerOpenings = []string{
	"this e-mail", "this email", "this message", "this communication", "confidentiality notice", "disclaimer:", "if you are not", "if you have received this",
	"diese e-mail", "diese email", "diese nachricht", "wenn sie nicht der ",
	"ce message", "ce courriel", "ce e-mail", "ce email", "si vous n'êtes pas", "si vous avez reçu ce",
	"este mensaje", "este correo", "si usted no es", "si usted ha recibido este", "si no es", "si ha recibido este",
}

// isDisclaimer reports whether a line holds a disclaimer's opening. The
// anchored pattern is tried only at the start of a word where an opening
// begins: searched for anywhere in the line, its bounded repeats made a
// long line of prose cost a millisecond.
func isDisclaimer(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if i > 0 && isWordByte(t[i-1]) {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		for _, o := range disclaimerOpenings {
			if o[0] == c && len(t)-i >= len(o) && strings.EqualFold(t[i:i+len(o)], o) && disclaimer.MatchString(t[i:]) {
				return true
			}
		}
	}
	return false
}

// isWordByte is a byte of a letter: ASCII, or part of a multi-byte rune.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// separatorWords are in every separator the pattern knows.
var separatorWords = []string{"essage", "ESSAGE", "achricht", "ACHRICHT", "ensaje", "ENSAJE", "orward", "ORWARD"}

func containsAny(t string, words []string) bool {
	for _, w := range words {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

func hasContent(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

// shortTail reports whether lines look like a signature block: a few short
// lines, no paragraph of prose.
func shortTail(lines []string) bool {
	n := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		n++
		if n > maxSignatureLines || utf8.RuneCountInString(t) > 60 {
			return false
		}
	}
	return true
}

func paragraphStart(lines []string, i int) int {
	for i > 0 && strings.TrimSpace(lines[i-1]) != "" {
		i--
	}
	return i
}

// tidy trims lines and joins them, keeping at most one blank line between
// paragraphs.
func tidy(lines []string) string {
	var sb strings.Builder
	blank := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			blank = sb.Len() > 0
			continue
		}
		if sb.Len() > 0 {
			if blank {
				sb.WriteString("\n\n")
			} else {
				sb.WriteByte('\n')
			}
		}
		blank = false
		sb.WriteString(t)
	}
	return sb.String()
}
