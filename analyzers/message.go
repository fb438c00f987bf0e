package analyzers

import (
	"net/mail"
	"strings"
	"sync"
	"time"
)

// Message is the parsed view of one raw mail that analyzers read. It is
// built once per message (see Parse) and shared, read-only, by every
// analyzer that runs on it; what analyzers derive from it and want to
// share goes through Derived.
type Message struct {
	// ID is the pipeline's message id (hex sha256 of mailbox and UIDL); empty
	// outside the pipeline until the caller sets it.
	ID      string
	Mailbox string
	UIDL    string
	// Raw is the message exactly as fetched.
	Raw []byte

	Header Header

	// Text is the concatenation of every text/plain body outside
	// attachments, decoded to UTF-8; HTML likewise for text/html bodies.
	Text string
	HTML string

	// Parts lists every leaf part in document order, attachments included,
	// with nested messages' parts after their container ("2.1.1").
	Parts []Part
	// Attachments lists the parts that are files: those with an attachment
	// disposition or a file name, and non-text leaves. Nested message/rfc822
	// parts are listed here too (as the whole .eml) and parsed into Nested.
	Attachments []*Part
	// Nested holds the parsed form of each message/rfc822 part.
	Nested []*Message
	// URLs found in text and HTML bodies, in first-seen order, deduplicated.
	URLs []string
	// Links are the same links with what the reader is shown for each: the
	// anchor text of an <a href>, the URL as written in text. Unlike URLs
	// they keep links with any scheme (javascript:, data:, a bare //host)
	// because those are what a phishing check looks for, and they keep each
	// place a link appears with a different text. Only cid:, mailto:, tel:
	// and relative links, which lead to no web page, are left out.
	Links []Link

	// Problems are the places where the message is malformed: a part that
	// could not be decoded, a charset that is not known, nesting too deep.
	// Parse keeps going past them so the rest can still be analyzed.
	Problems []Problem

	// derived holds what analyzers computed from the fields above, see
	// Derived. It holds a mutex: a Message is shared by pointer, never
	// copied.
	derived derivedMemo
}

type derivedMemo struct {
	mu     sync.Mutex
	values map[any]*derivedValue
}

type derivedValue struct {
	once sync.Once
	v    any
}

// Derived returns what compute gives for key, computing it at most once per
// message: the analyzers of one process that read the same derived data
// (the sender's own words, their language) share one computation, however
// many of them run and in whichever order or goroutine.
//
// The key should be a value of an unexported type of the package that
// defines what is computed, as with context.Context values, so that
// packages cannot collide; the package wraps Derived in a typed accessor.
// The value is shared: compute must return a value nobody modifies
// afterwards, and it must depend only on the message's fields and on what
// the key holds (a key is typically a constant, or a comparable struct of
// the options that change the result). compute may call Derived for other
// keys, never for its own. Concurrent callers with the same key wait for
// the first computation; a panic in compute is not recovered, and that
// key's value is then nil.
func (m *Message) Derived(key any, compute func() any) any {
	d := &m.derived
	d.mu.Lock()
	e := d.values[key]
	if e == nil {
		if d.values == nil {
			d.values = map[any]*derivedValue{}
		}
		e = &derivedValue{}
		d.values[key] = e
	}
	d.mu.Unlock()
	e.once.Do(func() { e.v = compute() })
	return e.v
}

// Header holds the decoded top-level header fields analyzers ask for most,
// plus every field in order for the rest.
type Header struct {
	MessageID  string // with angle brackets, as written
	Subject    string // RFC 2047 decoded
	From       []*mail.Address
	Sender     []*mail.Address
	ReplyTo    []*mail.Address
	To         []*mail.Address
	Cc         []*mail.Address
	ReturnPath string
	Date       time.Time // zero when absent or unparseable
	DateRaw    string
	Fields     []Field
}

// Field is one header field, its value decoded (RFC 2047) where possible.
type Field struct {
	Key   string
	Value string
}

// Get returns the first value of the named field (case-insensitive), or "".
func (h *Header) Get(key string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Values returns every value of the named field in order.
func (h *Header) Values(key string) []string {
	var out []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Key, key) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Part is one leaf of the MIME tree.
type Part struct {
	// Path names the part the way people point at it: "1", "2.1", ...
	// following the multipart nesting (1-based, as IMAP numbers parts).
	Path        string
	ContentType string // media type, lower case, without parameters
	Charset     string
	Filename    string // RFC 2231/2047 decoded; empty when none given
	Disposition string // "attachment", "inline" or ""
	Encoding    string // Content-Transfer-Encoding as declared
	Size        int64  // decoded size in bytes
	SHA256      string // hex, of the decoded content
	// Content is the decoded body. It is bounded by the parser's size limit;
	// Truncated says the limit cut it.
	Content   []byte
	Truncated bool
	// Attachment is true for parts that are files rather than message text.
	Attachment bool
}

// Problem is one malformed place in a message.
type Problem struct {
	Part string `json:"part"` // part path, or "header" / "message"
	Err  string `json:"error"`
}

// LinkKind says where in a body a link was found.
type LinkKind string

const (
	// LinkHref is a link the reader clicks: <a href>, <area href>.
	LinkHref LinkKind = "href"
	// LinkSrc is a resource the mail client loads by itself: <img src>,
	// <iframe src>, background, <link href> and the like.
	LinkSrc LinkKind = "src"
	// LinkFormAction is where a form sends what is typed into it: <form
	// action>, formaction on a button.
	LinkFormAction LinkKind = "form-action"
	// LinkText is a URL written out in text, plain or HTML.
	LinkText LinkKind = "text"
)

// Link is one link in a message body.
type Link struct {
	// URL is the link as written, blanks around it trimmed. A URL written
	// in text as "www.…" gets "http://" in front, as in Message.URLs.
	// data: URLs are cut after MaxDataURL bytes: their payload can be a
	// whole file.
	URL string `json:"url"`
	// Text is what the reader sees: the anchor's text (with the alt text of
	// images inside it), blanks collapsed, at most MaxLinkText runes; for a
	// URL written in text, the URL as written. Empty for resources and
	// forms.
	Text string `json:"text,omitempty"`
	// Part is the path of the body part the link is in.
	Part string   `json:"part"`
	Kind LinkKind `json:"kind"`
}

// Bounds of Link fields.
const (
	MaxLinkText = 256
	MaxDataURL  = 1024
)
