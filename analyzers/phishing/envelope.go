package phishing

import (
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailsift/mailsift/analyzers"
)

// This file holds the signs that a message was not written for its
// reader: how it is addressed (a stranger's freemail mailbox writing to
// hidden recipients, a crowd of unrelated addresses in To) and how it is
// built (a multipart/alternative with nothing to choose between, or whose
// plain-text and HTML versions tell different stories).

// decodedFrom is the first From address with its display name decoded
// when the sender quoted encoded words ("=?UTF-8?B?…?=" inside quotes,
// which RFC 2047 forbids and mail programs decode all the same, so the
// reader sees the decoded name). The message's own address is not
// changed.
func decodedFrom(m *analyzers.Message) *mail.Address {
	from := firstFrom(m)
	if from == nil || !strings.Contains(from.Name, "=?") {
		return from
	}
	if name, err := wordDecoder.DecodeHeader(from.Name); err == nil {
		c := *from
		c.Name = name
		return &c
	}
	return from
}

var wordDecoder = new(mime.WordDecoder)

// judgeEnvelope adds the symbols of how the message is addressed.
func (a *Analyzer) judgeEnvelope(f *finding, m *analyzers.Message, from *mail.Address, fromDom string) {
	h := &m.Header
	if from == nil {
		return
	}
	free := freemail[fromDom]
	replyFree := slices.ContainsFunc(h.ReplyTo, func(rt *mail.Address) bool {
		return freemail[analyzers.RegisteredDomain(domainOf(rt.Address))]
	})
	if free && hiddenRecipients(h, from) {
		f.add(FreemailUndisclosed, "from="+fromDom)
	}
	if free && strangeMailbox(from) {
		f.add(FreemailNameMismatch, "name="+short(from.Name), "mailbox="+strings.ToLower(from.Address))
	}
	if free || replyFree {
		if amount := largeAmount(readText(m, m.Text)); amount != "" {
			f.add(MoneyFreemail, amount)
		}
	}
	if !listMail(h) {
		doms := map[string]bool{}
		n := 0
		for _, l := range [][]*mail.Address{h.To, h.Cc} {
			for _, ad := range l {
				if d := analyzers.RegisteredDomain(domainOf(ad.Address)); d != "" {
					n++
					doms[d] = true
				}
			}
		}
		if n >= minMassRecipients && len(doms) >= minMassDomains {
			f.add(RecipientMass, fmt.Sprintf("%d addresses on %d domains", n, len(doms)))
		}
	}
}

// strangeMailbox says whether a person's name in the display name has
// nothing to do with the freemail mailbox it writes from: "Charlene
// Williams" at dr.ryan.roger1960@, a name put on whatever account the
// sender had at hand. People pick mailbox names after their own (a word
// of the name, or the initials: "Jan Smith" at jsmith84@); a name of one
// word ("Mom"), one not in Latin letters ("山田 太郎"), an organisation's
// and a brand's are not judged here.
func strangeMailbox(from *mail.Address) bool {
	name := strings.ToLower(foldAccents(withoutInvisible(from.Name)))
	ws := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(ws) < 2 || len(ws) > 4 || isOrgName(from.Name) {
		return false
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at <= 0 {
		return false
	}
	local := strings.ToLower(foldAccents(from.Address[:at]))
	initials := ""
	for _, w := range ws {
		for _, r := range w {
			if !unicode.Is(unicode.Latin, r) {
				// Digits are no person's name; a name in another script
				// cannot be spelled in the mailbox's letters.
				return false
			}
		}
		initials += string([]rune(w)[:1])
		if utf8.RuneCountInString(w) >= 3 && strings.Contains(local, w) ||
			utf8.RuneCountInString(w) >= 5 && strings.Contains(local, string([]rune(w)[:4])) {
			return false
		}
	}
	return !strings.Contains(local, initials)
}

// A crowd of recipients: more addresses on more unrelated domains than a
// person writes to at once, outside a mailing list. A reply to all on a
// busy list thread can carry a dozen.
const (
	minMassRecipients = 20
	minMassDomains    = 10
)

// hiddenRecipients says whether a message names none of its recipients:
// no To at all, the "undisclosed-recipients:;" group, or only the
// sender's own address, with everyone else in Bcc.
func hiddenRecipients(h *analyzers.Header, from *mail.Address) bool {
	to := strings.TrimSpace(h.Get("To"))
	if len(h.Cc) > 0 {
		return false
	}
	switch {
	case to == "" && len(h.To) == 0:
		return h.Get("Cc") == ""
	case len(h.To) == 0 && strings.HasSuffix(to, ";") && strings.Contains(to, ":"):
		// A group with no members: "undisclosed-recipients:;".
		return true
	case len(h.To) == 1 && strings.EqualFold(h.To[0].Address, from.Address):
		return true
	}
	return false
}

// moneyAmount finds a sum of money written with its currency: a sign or
// code before or after a number with thousands separators, or a number of
// millions.
var moneyAmount = regexp.MustCompile(`(?i)(?:us\$|usd|eur|gbp|r\$|\$|€|£)\s?(\d{1,3}(?:[,.]\d{3})+|\d{4,})(?:[.,]\d{1,2})?\b|\b(\d{1,3}(?:[,.]\d{3})+|\d{4,})(?:[.,]\d{1,2})?\s?(?:\$|€|£|usd\b|eur\b|euros?\b|dollars?\b|d[óo]lares\b|reais\b|pounds\b)|\b\d+(?:[.,]\d+)?\s*(?:million|millions|milh[õo]es|millones|millionen|mio\.)\s+(?:of\s+|de\s+)?(?:us\s+)?(?:dollars?|usd|euros?|eur|d[óo]lares|pounds|gbp|reais)\b`)

// minAmount is the smallest sum that counts: a fortune to hand over or to
// receive, not the price of a meal.
const minAmount = 1000

// largeAmount returns the first sum of at least minAmount written in
// text, or "".
func largeAmount(text string) string {
	if !strings.ContainsAny(text, "$€£") && !moneyWords.MatchString(text) {
		return ""
	}
	for _, m := range moneyAmount.FindAllStringSubmatch(text, 20) {
		digits := m[1] + m[2]
		if digits == "" {
			return strings.Join(strings.Fields(m[0]), " ") // millions
		}
		digits = digitGroups.Replace(digits)
		if n, err := strconv.Atoi(digits); err == nil && n >= minAmount {
			return strings.TrimSpace(m[0])
		}
	}
	return ""
}

// digitGroups drops the separators of thousands, written as a comma or a
// point depending on the country. Built once: a replacer is costly to make.
var digitGroups = strings.NewReplacer(",", "", ".", "")

var moneyWords = regexp.MustCompile(`(?i)\b(usd|eur|gbp|euros?|dollars?|d[óo]lares|reais|pounds|million|milh[õo]es|millones|millionen)\b`)

// judgeStructure adds the symbols of how the message's body is built and
// which program says it built it.
func (a *Analyzer) judgeStructure(f *finding, m *analyzers.Message) {
	if x := strings.TrimSpace(m.Header.Get("X-Mailer")); x != "" && madeUpMailer(x) {
		f.add(MailerMadeUp, short(x))
	}
	ct := strings.ToLower(strings.TrimSpace(m.Header.Get("Content-Type")))
	// One leaf, "1": the alternative holds a single body and no second
	// one ("2"), nor a multipart of its own (an HTML body with its
	// pictures, "1.1" and "1.2", which some programs send this way).
	if strings.HasPrefix(ct, "multipart/alternative") && len(m.Parts) == 1 && m.Parts[0].Path == "1" {
		f.add(AltOne, m.Parts[0].ContentType)
	}
	if share, ok := alternativesShare(m); ok && share < maxAltShare {
		f.add(AltMismatch, fmt.Sprintf("%.0f%% of words shared", 100*share))
	}
}

// The plain-text and HTML versions of one message say the same thing in
// two forms; bulk mail fills one of them with other text to slip past
// filters that read only one. Texts of fewer than minAltWords distinct
// words ("This message needs an HTML viewer") are not compared.
const (
	minAltWords = 20
	maxAltShare = 0.2
)

// alternativesShare is the share of the distinct words of the shorter of
// the plain-text and HTML bodies that the other one has too; ok is false
// unless the message has exactly one of each and both are long enough.
func alternativesShare(m *analyzers.Message) (float64, bool) {
	if m.Text == "" || m.HTML == "" {
		return 0, false
	}
	plain, html := 0, 0
	for _, p := range m.Parts {
		if p.Attachment {
			continue
		}
		switch p.ContentType {
		case "text/plain":
			plain++
		case "text/html":
			html++
		}
	}
	if plain != 1 || html != 1 {
		return 0, false
	}
	x, y := wordSet(m.Text), wordSet(htmlText(m))
	if len(x) < minAltWords || len(y) < minAltWords {
		return 0, false
	}
	if len(y) < len(x) {
		x, y = y, x
	}
	in := 0
	for w := range x {
		if y[w] {
			in++
		}
	}
	return float64(in) / float64(len(x)), true
}

// wordSet is the distinct words of at least three letters of s,
// lower-cased.
func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 3 {
			out[strings.ToLower(w)] = true
		}
	}
	return out
}

// madeUpMailer says whether an X-Mailer field names no program: no letter
// at all ("2"), or one token a program made up
// ("6A2cY8ZOjVYHR4D1ZbWvMVkwA"). Mail programs write their name and
// version ("Microsoft Outlook 16.0", "PHPMailer 6.9.1"); bulk senders
// fill the field with noise so that filters cannot learn it.
func madeUpMailer(x string) bool {
	if !strings.ContainsFunc(x, unicode.IsLetter) {
		return true
	}
	return !strings.ContainsAny(x, " \t") && len(x) >= 16 && machineMade(x)
}

// judgeLinkRecipient adds LinkRecipient when a link that leads off the
// sender's domain carries a recipient's address as written: a tracker that
// tells the sender which address works. Unsubscribe links carry it for a
// reason and do not count.
func (a *Analyzer) judgeLinkRecipient(f *finding, m *analyzers.Message, off []judged) {
	if len(off) == 0 {
		return
	}
	// Each address as written and as a query string encodes it, made once
	// rather than for each link.
	var addrs []string
	add := func(addr string) {
		addrs = append(addrs, addr, strings.Replace(addr, "@", "%40", 1))
	}
	for _, l := range [][]*mail.Address{m.Header.To, m.Header.Cc} {
		for _, ad := range l {
			if strings.Contains(ad.Address, "@") {
				add(strings.ToLower(ad.Address))
			}
		}
	}
	for _, v := range m.Header.Values("Delivered-To") {
		if v = strings.ToLower(strings.TrimSpace(v)); strings.Contains(v, "@") {
			add(v)
		}
	}
	for _, l := range off {
		u := strings.ToLower(l.URL)
		if strings.Contains(u, "unsub") || strings.Contains(u, "opt-out") || strings.Contains(u, "optout") {
			continue
		}
		for _, ad := range addrs {
			if strings.Contains(u, ad) {
				f.add(LinkRecipient, l.h.display)
				return
			}
		}
	}
}

// readText is what the checks of words read: the subject, then plain (the
// plain-text body, or the part of it they judge), then the text a reader
// sees in the HTML body.
func readText(m *analyzers.Message, plain string) string {
	text := m.Header.Subject + "\n" + plain
	if m.HTML != "" {
		text += "\n" + htmlText(m)
	}
	return text
}

// htmlTextKey keys the visible text of a message's HTML in
// Message.Derived: several checks read it, and working it out is the
// costliest step of this analyzer after the word lists.
type htmlTextKey struct{}

// htmlText is the text a reader sees in the message's HTML body.
func htmlText(m *analyzers.Message) string {
	if m.HTML == "" {
		return ""
	}
	return m.Derived(htmlTextKey{}, func() any { return analyzers.HTMLText(m.HTML) }).(string)
}
