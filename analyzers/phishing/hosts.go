package phishing

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"

	"github.com/mailsift/mailsift/analyzers"
)

// host is what the analyzer knows about the host a link leads to.
type host struct {
	ascii    string // lower case, punycode for IDNs: what DNS resolves
	display  string // Unicode form, as a browser may show it
	reg      string // registered domain (public suffix + 1) of ascii
	ip       bool   // an IP address, in any notation browsers accept
	userinfo bool   // the URL has user@ before the host
}

// parseHost reads the host of a web link the way a browser would:
// blanks inside ignored, backslashes as slashes, "//host" as http.
func parseHost(raw string) (host, bool) {
	s := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.TrimSpace(raw))
	if strings.HasPrefix(s, "//") {
		s = "http:" + s
	}
	lower := strings.ToLower(s)
	var rest string
	for _, sch := range []string{"http:", "https:", "ftp:"} {
		if strings.HasPrefix(lower, sch) {
			// Browsers take any run of slashes and backslashes after a web
			// scheme as "//".
			rest = strings.TrimLeft(s[len(sch):], `/\`)
			if len(rest) == len(s)-len(sch) {
				return host{}, false
			}
			break
		}
	}
	if rest == "" {
		return host{}, false
	}
	rest = strings.ReplaceAll(rest, `\`, "/")
	authority := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority = rest[:j]
	}
	var h host
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		h.userinfo = true
		authority = authority[at+1:]
	}
	name := authority
	if strings.HasPrefix(name, "[") {
		if j := strings.IndexByte(name, ']'); j > 0 {
			name = name[1:j]
		}
	} else if j := strings.LastIndexByte(name, ':'); j >= 0 {
		name = name[:j]
	}
	if un, err := url.PathUnescape(name); err == nil {
		name = un
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return host{}, false
	}
	if isIPHost(name) {
		h.ascii, h.display, h.reg, h.ip = name, name, name, true
		return h, true
	}
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		// Not a name DNS would take; judge it as written.
		ascii = name
	}
	h.ascii = ascii
	h.display = ascii
	if d, err := idna.Display.ToUnicode(ascii); err == nil {
		h.display = d
	}
	h.reg = analyzers.RegisteredDomain(ascii)
	return h, true
}

// isIPHost says whether a host is an IP address in any form browsers
// accept: dotted or not, with decimal, octal (0…) or hex (0x…) parts.
func isIPHost(name string) bool {
	if net.ParseIP(name) != nil {
		return true
	}
	parts := strings.Split(name, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			p, base = p[2:], 16
			if p == "" {
				continue
			}
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		if _, err := strconv.ParseUint(p, base, 32); err != nil {
			return false
		}
	}
	return true
}

// domainOf is the lower-case domain of an address, or "".
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(addr[at+1:])), ".")
	d = strings.Trim(d, "<>[] ")
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return a
	}
	return d
}

// skeleton folds a string to the form that look-alike strings share
// (Unicode TR39: "раypal" with Cyrillic letters, "paypa1" and "paypal"
// all become one), lower-cased, blanks and punctuation dropped.
func skeleton(s string) string {
	// Twice, with lower-casing between: TR39 folds some capitals to lower
	// case letters ("I" to "l") and some lower case letters to pairs ("m"
	// to "rn"), so one pass leaves "Microsoft" and "microsoft" apart.
	s = confusables.Skeleton(strings.ToLower(confusables.Skeleton(s)))
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// nearMiss says whether a and b differ by one edit (insertion, deletion,
// substitution, or two neighbours swapped).
func nearMiss(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	switch len(ra) - len(rb) {
	case 0:
		diff := -1
		for i := range ra {
			if ra[i] != rb[i] {
				if diff >= 0 {
					// a second difference: only a swap of neighbours
					return i == diff+1 && ra[diff] == rb[i] && ra[i] == rb[diff] && string(ra[i+1:]) == string(rb[i+1:])
				}
				diff = i
			}
		}
		return diff >= 0
	case 1:
		i := 0
		for i < len(rb) && ra[i] == rb[i] {
			i++
		}
		return string(ra[i+1:]) == string(rb[i:])
	}
	return false
}

// mixedScript says whether a word mixes Latin letters with Cyrillic,
// Greek or other look-alike scripts, which is how a browser decides to show a host as punycode: one word mixing Latin with
// Cyrillic or Greek is almost never written by a person.
func mixedScript(word string) bool {
	var latin, other bool
	for _, r := range word {
		switch {
		case !unicode.IsLetter(r):
		case unicode.Is(unicode.Latin, r):
			latin = true
		case unicode.In(r, unicode.Cyrillic, unicode.Greek, unicode.Armenian, unicode.Cherokee):
			other = true
		}
	}
	return latin && other
}

// fancyLetters says whether s uses the mathematical letter forms (𝐏𝐚𝐲,
// 𝕀𝕔𝕝𝕠𝕦𝕕) that spam uses to slip words past filters.
func fancyLetters(s string) bool {
	for _, r := range s {
		if r >= 0x1D400 && r <= 0x1D7FF || strings.ContainsRune("ℂℍℕℙℚℝℤℬℰℱℋℐℒℳℛ", r) {
			return true
		}
	}
	return false
}
