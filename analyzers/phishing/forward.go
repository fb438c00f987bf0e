package phishing

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
)

// This file judges the messages forwarded inside a message: attached as
// message/rfc822, or quoted inline below a forward marker ("----------
// Forwarded message ---------", "Begin forwarded message:", Outlook's
// "From: … Sent: … To: … Subject:" block in the languages it writes).
// Someone who forwards a suspect mail to a security desk sends it from
// their own, trusted address; what matters is the sender, the subject and
// the recipients of the mail forwarded. Their symbols are added with
// options that start with "forwarded:", and PHISH_FORWARDED names the
// forwarded sender.

// maxForwarded bounds the forwarded messages judged per message: a long
// thread quotes every earlier mail in it.
const maxForwarded = 3

// forwardedMessages returns the messages forwarded inside m: the attached
// ones, then those quoted inline in its text.
func forwardedMessages(m *analyzers.Message) []*analyzers.Message {
	out := slices.Clone(m.Nested[:min(len(m.Nested), maxForwarded)])
	if len(out) == maxForwarded {
		return out
	}
	var inline []*analyzers.Message
	if strings.TrimSpace(m.Text) == "" && m.HTML != "" {
		// Only this check reads the blocks quoted in the HTML's text, so
		// they are not kept in the message as those of the plain text are.
		inline, _ = quotedBlocks(htmlText(m), maxForwarded)
	} else {
		inline = quotedIn(m).msgs
	}
	return append(out, inline[:min(len(inline), maxForwarded-len(out))]...)
}

// forwardKeys maps the field names of an inline header block, as mail
// programs write them in English, Portuguese, Spanish, German, French,
// Italian and Dutch, to the field they stand for.
var forwardKeys = map[string]string{
	"from": "from", "de": "from", "von": "from", "da": "from", "van": "from",
	"sent": "date", "date": "date", "enviado": "date", "enviada": "date", "data": "date",
	"gesendet": "date", "datum": "date", "envoyé": "date", "envoye": "date", "inviato": "date",
	"verzonden": "date", "enviado el": "date", "fecha": "date",
	"to": "to", "para": "to", "an": "to", "à": "to", "a": "to", "aan": "to",
	"cc": "cc", "kopie": "cc",
	"subject": "subject", "assunto": "subject", "asunto": "subject", "betreff": "subject",
	"objet": "subject", "oggetto": "subject", "onderwerp": "subject",
	"reply-to": "reply-to", "responder a": "reply-to", "antwort an": "reply-to",
}

// forwardField is one "Key: value" line of an inline header block; the key
// may be starred (Gmail's plain text of bold labels).
var forwardField = regexp.MustCompile(`^\s*[*>]*\s*\*?([\p{L}][\p{L} -]{0,12}?)\*?\s*:\*?\s*(.*)$`)

// mailAddress finds the addresses written in a line of text.
var mailAddress = regexp.MustCompile(`[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)

// quotedKey keys in Message.Derived the header blocks quoted in a
// message's plain-text body: the forwarded mails judged and the sender's
// own text above them come from one reading of it, not one each.
type quotedKey struct{}

// quotedText is what quotedBlocks finds in a plain-text body.
type quotedText struct {
	msgs []*analyzers.Message // at most maxForwarded
	at   int                  // where the first block starts; -1: none
}

func quotedIn(m *analyzers.Message) quotedText {
	return m.Derived(quotedKey{}, func() any {
		msgs, at := quotedBlocks(m.Text, maxForwarded)
		return quotedText{msgs: msgs, at: at}
	}).(quotedText)
}

// ownText is the part of the message's plain-text body above the first
// quoted header block: what the sender wrote, not what they forwarded or
// replied to.
func ownText(m *analyzers.Message) string {
	if at := quotedIn(m).at; at >= 0 {
		return m.Text[:at]
	}
	return m.Text
}

// quotedBlocks finds header blocks quoted in text, at most max: a From
// line followed, before a blank line, by at least two of a date, the
// recipients and a subject. Each becomes a message with those header
// fields and the text below the block as its body. It also returns the
// byte offset where the first block starts (-1: none).
func quotedBlocks(text string, max int) ([]*analyzers.Message, int) {
	if max <= 0 || !strings.Contains(text, ":") {
		return nil, -1
	}
	lines := strings.Split(text, "\n")
	var out []*analyzers.Message
	first := -1
	for i := 0; i < len(lines) && len(out) < max; i++ {
		k, v, ok := fieldLine(lines[i])
		if !ok || k != "from" {
			continue
		}
		fields := map[string]string{"from": v}
		last := "from"
		j := i + 1
		for ; j < len(lines) && j < i+12; j++ {
			if strings.TrimSpace(lines[j]) == "" {
				break
			}
			k, v, ok := fieldLine(lines[j])
			if !ok {
				// A long recipient list folds onto the next lines.
				if last == "to" || last == "cc" {
					fields[last] += " " + lines[j]
					continue
				}
				break
			}
			if _, seen := fields[k]; !seen {
				fields[k] = v
			}
			last = k
		}
		n := 0
		for _, k := range []string{"date", "to", "subject"} {
			if _, ok := fields[k]; ok {
				n++
			}
		}
		if n < 2 {
			continue
		}
		end := len(lines)
		for e := j; e < len(lines); e++ {
			if k, _, ok := fieldLine(lines[e]); ok && k == "from" {
				end = e
				break
			}
		}
		if first < 0 {
			first = 0
			for _, l := range lines[:i] {
				first += len(l) + 1
			}
		}
		out = append(out, quotedMessage(fields, strings.Join(lines[j:end], "\n")))
		i = end - 1
	}
	return out, first
}

// fieldLine reads a line as a field of an inline header block.
func fieldLine(line string) (key, value string, ok bool) {
	// The field names are short: a line without a colon near its start
	// is text, and most lines of a message are, so the expression is
	// spared them.
	if c := strings.IndexByte(line, ':'); c < 0 || c > 40 {
		return "", "", false
	}
	if len(line) > 4000 {
		line = line[:4000]
	}
	m := forwardField.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	k, found := forwardKeys[strings.ToLower(strings.TrimSpace(m[1]))]
	return k, strings.TrimSpace(m[2]), found
}

// quotedMessage builds the message an inline header block describes.
func quotedMessage(fields map[string]string, body string) *analyzers.Message {
	q := &analyzers.Message{Text: body}
	h := &q.Header
	h.Subject = fields["subject"]
	if a := quotedAddress(fields["from"]); a != nil {
		h.From = []*mail.Address{a}
	}
	if a := quotedAddress(fields["reply-to"]); a != nil {
		h.ReplyTo = []*mail.Address{a}
	}
	h.To = quotedList(fields["to"])
	h.Cc = quotedList(fields["cc"])
	// What the checks of the header read through Get. A block that does
	// not quote the recipients says nothing about them: it must not read
	// as a mail sent to hidden recipients.
	to, ok := fields["to"]
	if !ok {
		to = "(not quoted)"
	}
	h.Fields = append(h.Fields, analyzers.Field{Key: "to", Value: to})
	if v, ok := fields["cc"]; ok {
		h.Fields = append(h.Fields, analyzers.Field{Key: "cc", Value: v})
	}
	return q
}

// quotedAddress reads "Name <addr>", "Name [mailto:addr]" or a bare
// address; a name alone (Outlook's for colleagues) gives nil.
func quotedAddress(v string) *mail.Address {
	addr := mailAddress.FindString(v)
	if addr == "" {
		return nil
	}
	// A bare address has no name: the name is what comes before the
	// bracket.
	name := ""
	if i := strings.IndexAny(v, "<["); i >= 0 {
		name = v[:i]
	}
	name = strings.Trim(strings.TrimSpace(name), `"'`)
	if strings.EqualFold(name, addr) {
		name = ""
	}
	return &mail.Address{Name: name, Address: strings.ToLower(addr)}
}

// quotedList reads the addresses of a quoted recipient line, each once.
func quotedList(v string) []*mail.Address {
	var out []*mail.Address
	seen := map[string]bool{}
	for _, a := range mailAddress.FindAllString(v, 200) {
		a = strings.ToLower(a)
		if !seen[a] {
			seen[a] = true
			out = append(out, &mail.Address{Address: a})
		}
	}
	return out
}

// judgeForwarded judges the sender, recipients and subject of each
// forwarded message, and the words of attached ones (the text quoted
// inline is already part of the message's own), and adds what it finds
// with options marked "forwarded:". A mail system's report is no forward
// (a bounce returns the reader's own message) and is not given here.
func (a *Analyzer) judgeForwarded(f *finding, m *analyzers.Message, own []string) {
	for _, fm := range forwardedMessages(m) {
		from := decodedFrom(fm)
		if from == nil || !strings.Contains(from.Address, "@") {
			continue
		}
		fromDom := analyzers.RegisteredDomain(domainOf(from.Address))
		var inner finding
		a.judgeSender(&inner, fm, from, fromDom, own)
		a.judgeInfrastructure(&inner, fm, from, fromDom, own, nil)
		a.judgeEnvelope(&inner, fm, from, fromDom)
		if len(fm.Raw) > 0 {
			// An attached message: its text is not part of the carrier's.
			links := a.links(fm)
			var off []judged
			for _, l := range links {
				if a.leadsOff(l, fromDom) {
					off = append(off, l)
				}
			}
			a.judgeWords(&inner, fm, links, fromDom, off)
		}
		if len(inner.order) == 0 {
			continue
		}
		f.add(Forwarded, "from="+strings.ToLower(from.Address))
		for _, sym := range inner.order {
			var opts []string
			for _, o := range inner.opts[sym] {
				opts = append(opts, "forwarded: "+o)
			}
			if len(opts) == 0 {
				// Still marked, so that the symbol is not read as the
				// carrier's own.
				opts = []string{"forwarded"}
			}
			f.add(sym, opts...)
			if e := inner.extra[sym]; e > f.extra[sym] {
				if f.extra == nil {
					f.extra = map[string]float64{}
				}
				f.extra[sym] = e
			}
		}
	}
}
