package auth

import (
	"strings"
)

// Results is one parsed Authentication-Results field (RFC 8601) or the
// results part of an ARC-Authentication-Results field (RFC 8617).
type Results struct {
	// AuthServID names the host that wrote the field. Empty when the field
	// starts with a result, as Microsoft 365 writes it.
	AuthServID string `json:"authserv_id"`
	// Instance is the ARC instance (i=) of an ARC-Authentication-Results
	// field; 0 otherwise.
	Instance int            `json:"instance,omitempty"`
	Methods  []MethodResult `json:"methods"`
}

// MethodResult is one "method=result" statement with its reason and
// properties ("smtp.mailfrom", "header.d", ...).
type MethodResult struct {
	Method string            `json:"method"` // lower case: spf, dkim, dmarc, arc, compauth, ...
	Result string            `json:"result"` // lower case: pass, fail, softfail, none, ...
	Reason string            `json:"reason,omitempty"`
	Props  map[string]string `json:"props,omitempty"` // "ptype.property" to value
}

// Get returns the first result of a method, or nil.
func (r *Results) Get(method string) *MethodResult {
	for i := range r.Methods {
		if r.Methods[i].Method == method {
			return &r.Methods[i]
		}
	}
	return nil
}

// maxMethods bounds what one field can add to a report.
const maxMethods = 64

// ParseResults parses the value of an Authentication-Results field. It is
// lenient where real servers are sloppy (a missing authserv-id, missing
// semicolons between statements, unknown methods) and never fails: what
// cannot be read is left out. arc says the value is that of an
// ARC-Authentication-Results field, which starts with "i=<n>;".
func ParseResults(v string, arc bool) Results {
	var r Results
	toks := tokenize(v)
	i := 0
	if arc {
		// "i=1;" before the authserv-id.
		if i+2 < len(toks) && strings.EqualFold(toks[i].s, "i") && toks[i+1].s == "=" {
			r.Instance = atoi(toks[i+2].s)
			i += 3
			if i < len(toks) && toks[i].s == ";" {
				i++
			}
		}
	}
	// The authserv-id, unless the field starts with "method=" at once.
	if i < len(toks) && !toks[i].sep && !(i+1 < len(toks) && toks[i+1].s == "=") {
		r.AuthServID = strings.ToLower(toks[i].s)
		i++
		// An optional version number.
		if i < len(toks) && !toks[i].sep && isDigits(toks[i].s) {
			i++
		}
	}
	for i < len(toks) && len(r.Methods) < maxMethods {
		t := toks[i]
		if t.sep || i+2 >= len(toks) || toks[i+1].s != "=" || toks[i+2].sep || t.s == "" || toks[i+2].s == "" {
			i++
			continue
		}
		// "none" alone says there are no results.
		m := MethodResult{Method: strings.ToLower(t.s), Result: strings.ToLower(toks[i+2].s)}
		if j := strings.IndexByte(m.Method, '/'); j >= 0 {
			m.Method = m.Method[:j] // method version: "dkim/1"
		}
		i += 3
		if m.Method == "" {
			continue
		}
		for i < len(toks) && toks[i].s != ";" {
			if toks[i].sep || i+2 >= len(toks) || toks[i+1].s != "=" {
				i++
				continue
			}
			k := strings.ToLower(toks[i].s)
			val := toks[i+2].s
			// A new "method=result" without a semicolon before it.
			if !strings.Contains(k, ".") && k != "reason" && k != "action" && k != "policy" {
				break
			}
			switch k {
			case "reason":
				m.Reason = val
			default:
				if m.Props == nil {
					m.Props = map[string]string{}
				}
				if _, dup := m.Props[k]; !dup {
					m.Props[k] = val
				}
			}
			i += 3
		}
		r.Methods = append(r.Methods, m)
	}
	return r
}

type token struct {
	s   string
	sep bool // ";" or "="
}

// tokenize splits a field value into words, quoted strings (unquoted),
// and the separators ";" and "=", dropping comments. Words may hold "@",
// "/", "." and ":", as addresses and versions do.
func tokenize(v string) []token {
	var out []token
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
			i++
		case c == '(':
			depth := 0
			for i < len(v) {
				switch v[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
				i++
				if depth == 0 {
					break
				}
			}
		case c == ';' || c == '=':
			out = append(out, token{s: string(c), sep: true})
			i++
		case c == '"':
			var sb strings.Builder
			i++
			for i < len(v) && v[i] != '"' {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				sb.WriteByte(v[i])
				i++
			}
			i++
			out = append(out, token{s: sb.String()})
		default:
			j := i
			for j < len(v) && !strings.ContainsRune(" \t\r\n;=()\",", rune(v[j])) {
				j++
			}
			if j == i {
				i++ // a stray ")"
				continue
			}
			out = append(out, token{s: v[i:j]})
			i = j
		}
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 1<<20 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
