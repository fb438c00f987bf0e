package phishing

import (
	"encoding/base64"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Rewriters whose links Unwrap decodes.
const (
	ViaProofpointV1 = "proofpoint-v1"
	ViaProofpointV2 = "proofpoint-v2"
	ViaProofpointV3 = "proofpoint-v3"
	ViaSafeLinks    = "safelinks"
)

// maxUnwrap bounds how many rewriters deep Unwrap follows a link: mail
// forwarded between two protected organisations is rewritten twice.
const maxUnwrap = 4

// Unwrap returns the destination of a link rewritten by a mail security
// gateway (Proofpoint URL Defense v1, v2 and v3, Microsoft Safe Links),
// following rewrites of rewrites, and the rewriters it went through. A link
// that is not rewritten, or whose rewrite does not decode, comes back as it
// is with no rewriter.
func Unwrap(link string) (dest string, via []string) {
	dest = link
	for range maxUnwrap {
		next, v := unwrapOnce(dest)
		if v == "" {
			break
		}
		dest = next
		via = append(via, v)
	}
	return dest, via
}

func unwrapOnce(link string) (string, string) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" {
		return link, ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "urldefense.proofpoint.com" && u.Path == "/v1/url":
		if d := u.Query().Get("u"); isAbsolute(d) {
			return d, ViaProofpointV1
		}
	case host == "urldefense.proofpoint.com" && u.Path == "/v2/url":
		if d, ok := proofpointV2(u.Query().Get("u")); ok {
			return d, ViaProofpointV2
		}
	case host == "urldefense.com" && strings.HasPrefix(u.EscapedPath(), "/v3/__"):
		if d, ok := proofpointV3(link); ok {
			return d, ViaProofpointV3
		}
	case strings.HasSuffix(host, ".safelinks.protection.outlook.com"):
		if d := u.Query().Get("url"); isAbsolute(d) {
			return d, ViaSafeLinks
		}
	}
	return link, ""
}

// proofpointV2 decodes the u parameter of a v2 link: "-" stands for "%"
// and "_" for "/".
func proofpointV2(u string) (string, bool) {
	if u == "" {
		return "", false
	}
	var sb strings.Builder
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case c == '-' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]):
			sb.WriteByte('%')
		case c == '_':
			sb.WriteByte('/')
		default:
			sb.WriteByte(c)
		}
	}
	d, err := url.PathUnescape(sb.String())
	if err != nil || !isAbsolute(d) {
		return "", false
	}
	return d, true
}

// v3Runs is the alphabet of v3's run lengths: "**A" stands for the next 2
// replacement characters, "**B" for 3, and so on.
const v3Runs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// proofpointV3 decodes https://urldefense.com/v3/__<url>__;<chars>!!…: in
// <url> every "*" stands for the next character of <chars> (URL-safe
// base64 of UTF-8), and "**" plus a letter for a run of them.
func proofpointV3(link string) (string, bool) {
	i := strings.Index(link, "/v3/__")
	if i < 0 {
		return "", false
	}
	rest := link[i+len("/v3/__"):]
	end := strings.LastIndex(rest, "__;")
	if end < 0 {
		return "", false
	}
	enc := rest[:end]
	tail := rest[end+3:]
	if j := strings.Index(tail, "!"); j >= 0 {
		tail = tail[:j]
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tail, "="))
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	chars := []rune(string(b))
	var sb strings.Builder
	for k := 0; k < len(enc); k++ {
		if enc[k] != '*' {
			sb.WriteByte(enc[k])
			continue
		}
		n := 1
		if k+2 < len(enc) && enc[k+1] == '*' {
			n = strings.IndexByte(v3Runs, enc[k+2]) + 2
			if n < 2 {
				return "", false
			}
			k += 2
		}
		if n > len(chars) {
			return "", false
		}
		sb.WriteString(string(chars[:n]))
		chars = chars[n:]
	}
	d := sb.String()
	if !isAbsolute(d) {
		return "", false
	}
	return d, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isAbsolute(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}
