package phishing

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"

	"github.com/mailsift/mailsift/analyzers"
)

// This file holds the signs of the infrastructure a message was sent
// from and loads its pictures from: a sender address no mail system would
// write, names made up by a program, domains on services where anyone
// gets one for free, top-level domains bought in bulk for abuse, pictures
// hot-linked from image hosts or servers without a name, bulk mail that
// no mailing system sent, and display names dressed up with emoji.

// judgeInfrastructure adds the symbols of the sender's and the pictures'
// infrastructure.
func (a *Analyzer) judgeInfrastructure(f *finding, m *analyzers.Message, from *mail.Address, fromDom string, own []string, links []judged) {
	h := &m.Header
	fromHost := ""
	// A From without an address is the headers analyzer's MISSING_FROM;
	// here only addresses whose domain cannot be real count.
	// Mail inside an organisation may come from a name that only its own
	// network knows (corp.local): the recipients' own domains pass.
	internal := func(host string) bool { return slices.Contains(own, analyzers.RegisteredDomain(host)) }
	if from != nil {
		fromHost = domainOf(from.Address)
		if !validMailDomain(fromHost) && !internal(fromHost) {
			f.add(FromMalformed, "from="+short(fromHost))
		}
	}
	rpHost := ""
	if rp := h.ReturnPath; strings.Contains(rp, "@") {
		rpHost = domainOf(rp)
		if !validMailDomain(rpHost) && !internal(rpHost) {
			f.add(FromMalformed, "return-path="+short(rpHost))
		}
	}

	if from != nil {
		local := from.Address
		if at := strings.LastIndexByte(local, '@'); at >= 0 {
			local = local[:at]
		}
		// What follows a "+" is a tag a mail system adds (an account or
		// message id), not the name someone chose.
		local, _, _ = strings.Cut(local, "+")
		label, _ := splitReg(fromDom)
		for _, s := range []string{local, label} {
			// Judged piece by piece: "tidepool-app-3f2a1" is a name and a
			// short serial, as hosting services make them.
			for _, piece := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(".-_+=", r) }) {
				if machineMade(piece) {
					f.add(FromRandom, s)
					break
				}
			}
		}
		if hasEmoji(from.Name) {
			f.add(EmojiName, short(from.Name))
		}
	}

	for _, hs := range []string{fromHost, rpHost} {
		if hs != "" && (matchesAny(hs, defaultSenderHosting) || matchesAny(hs, a.hosting)) {
			f.add(SenderHosted, hs)
		}
	}

	if fromHost != "" && abusedTLDs[tld(fromHost)] {
		f.add(AbusedTLD, "from="+fromHost)
	}
	// The unsubscribe addresses are the sender's infrastructure as much as
	// its links are.
	for _, u := range unsubscribeHosts(h) {
		if abusedTLDs[tld(u)] {
			f.add(AbusedTLD, "list-unsubscribe="+u)
		}
	}
	for _, l := range links {
		if !l.web || l.h.ip {
			continue
		}
		if clickable(l.Kind) && abusedTLDs[tld(l.h.ascii)] {
			f.add(AbusedTLD, l.h.display)
		}
		if l.Kind == analyzers.LinkSrc && matchesAny(l.h.ascii, imageHosts) {
			f.add(ImageHosting, l.h.ascii)
		}
	}
	for _, l := range links {
		if !l.web || clickable(l.Kind) {
			continue
		}
		if l.h.ip || embedsIP(l.h.ascii) {
			f.add(ImageIP, l.h.ascii)
		}
	}

	if len(links) > 0 && !listMail(h) {
		// An unsubscribe line in a forwarded or quoted mail is that mail's,
		// whose List-Unsubscribe the forward does not carry.
		text := readText(m, ownText(m))
		if hit := unsubscribeWords.FindString(text); hit != "" {
			f.add(BulkNoUnsubscribe, strings.ToLower(hit))
		}
	}
}

// validMailDomain says whether a mail domain is one the internet can
// deliver to: host-name characters, and a top-level domain that is
// really delegated. The names reserved for documentation and tests
// (RFC 2606: .example, .test) pass, since they cannot be abused.
func validMailDomain(d string) bool {
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	top := tld(d)
	switch top {
	case "example", "test":
		return true
	}
	// Asked about the top-level domain alone, so that names under a
	// private suffix (dyndns.org, firebaseapp.com) are judged by theirs.
	_, icann := publicsuffix.PublicSuffix("x." + top)
	return icann
}

func tld(host string) string {
	return host[strings.LastIndexByte(host, '.')+1:]
}

// machineMade says whether a name was made up by a program rather than
// chosen by a person: letters and digits mixed back and forth
// ("hd8g42jmuq33", "kgm5xwql99vk"), or capitals thrown in at random
// ("fWscatuD": small first letter, two capitals after small letters). People's names and brands with digits switch once or
// twice ("web2print", "office365", "john.smith1985"), and so do names
// written in camel case ("McDonald", "JohnSmith").
func machineMade(s string) bool {
	if len(s) < 7 {
		return false
	}
	// Capitals after small letters: one starts each word of a name in
	// camel case; a name that starts small and has two is made up.
	raised, prevLower, letters := 0, false, 0
	for _, r := range s {
		if !unicode.IsLetter(r) || r > unicode.MaxASCII {
			raised = -100 // judged by the letters and digits below
			break
		}
		if unicode.IsUpper(r) && prevLower {
			raised++
		}
		prevLower = unicode.IsLower(r)
		letters++
	}
	if raised >= 2 && unicode.IsLower(rune(s[0])) && letters <= 16 {
		return true
	}
	switches, digits := 0, 0
	prev := 0 // 1 letter, 2 digit
	for _, r := range strings.ToLower(s) {
		cur := 0
		switch {
		case r >= 'a' && r <= 'z':
			cur = 1
		case r >= '0' && r <= '9':
			cur = 2
			digits++
		}
		if cur != 0 && prev != 0 && cur != prev {
			switches++
		}
		if cur != 0 {
			prev = cur
		}
	}
	return switches >= 4 && digits >= 3
}

// embedsIP says whether a host name carries an IPv4 address in its
// labels, the generic name of a rented server ("20.196.139.106.static.
// example", "ec2-54-1-2-3.compute.example").
func embedsIP(host string) bool {
	labels := strings.FieldsFunc(host, func(r rune) bool { return r == '.' || r == '-' })
	run := 0
	for _, l := range labels {
		if isOctet(l) {
			run++
			if run == 4 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func isOctet(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 255
}

// hasEmoji says whether s holds pictographs (🎁, ❤️, ✔️): companies do not
// write them in the name they send mail as; bulk mail decks itself out
// with them to stand out in the inbox.
func hasEmoji(s string) bool {
	for _, r := range s {
		if r >= 0x1F300 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r >= 0x1F000 && r <= 0x1F2FF || r == 0x2B50 || r == 0x2B55 {
			return true
		}
		if unicode.Is(unicode.So, r) && r >= 0x2190 && r <= 0x2BFF {
			return true
		}
	}
	return false
}

// listMail says whether a message came through a mailing list or a bulk
// mail service that says so in its header: List-Unsubscribe (which the
// large mailbox providers require of bulk senders since 2024), or the
// fields mailing-list software adds.
func listMail(h *analyzers.Header) bool {
	// List-Unsubscribe counts only with an address to unsubscribe at
	// (RFC 2369: a mailto: or web URI, in angle brackets, which some
	// senders forget); bulk mail that fakes the field writes anything
	// there.
	if v := strings.ToLower(h.Get("List-Unsubscribe")); strings.Contains(v, "mailto:") || strings.Contains(v, "http://") || strings.Contains(v, "https://") {
		return true
	}
	for _, k := range []string{"List-Id", "List-Post", "List-Help", "Mailing-List", "X-Mailing-List"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return strings.EqualFold(strings.TrimSpace(h.Get("Precedence")), "list")
}

// unsubscribeHosts are the hosts of the List-Unsubscribe field's web and
// mailto addresses.
func unsubscribeHosts(h *analyzers.Header) []string {
	v := h.Get("List-Unsubscribe")
	if v == "" {
		return nil
	}
	var out []string
	for _, m := range angleBracketed.FindAllStringSubmatch(v, 5) {
		u := strings.TrimSpace(m[1])
		if len(u) > 7 && strings.EqualFold(u[:7], "mailto:") {
			addr, _, _ := strings.Cut(u[7:], "?")
			u = "http://" + domainOf(strings.TrimSpace(addr))
		}
		if hs, ok := parseHost(u); ok && !hs.ip {
			out = append(out, hs.ascii)
		}
	}
	return out
}

var angleBracketed = regexp.MustCompile(`<([^>]*)>`)
