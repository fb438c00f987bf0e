package analyzers

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset" // also makes go-message decode every charset x/text knows
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	htmlcharset "golang.org/x/net/html/charset"
)

// ErrNotMessage is wrapped by Parse's error when the input is not a mail at
// all (empty, or no header block), as opposed to a mail with broken parts,
// which parses with Problems.
var ErrNotMessage = errors.New("not an email message")

// errParserBug marks a panic inside Parse turned into an error, so a fuzz
// test can still tell a bug from a rejected input.
var errParserBug = errors.New("parser bug")

// Defaults of ParseOptions.
const (
	DefaultMaxDepth    = 50
	DefaultMaxPartSize = 50 << 20
)

const (
	// maxHeaderBytes bounds one header block, as go-message does for the top
	// level; beyond it fields are dropped rather than the message refused.
	maxHeaderBytes = 1 << 20
	// maxProblems keeps a pathological message from producing a report the
	// size of the message itself.
	maxProblems = 100
)

// ParseOptions bound the work Parse does on one message. The zero value
// means the defaults.
type ParseOptions struct {
	// MaxDepth is how many levels of multipart and message/rfc822 containers
	// are opened. go-message's cost grows with the square of the depth and no
	// mail client nests more than a handful, so deeper containers are kept as
	// one opaque part and reported as a Problem. Default 50.
	MaxDepth int
	// MaxPartSize is how much decoded content is kept in Part.Content; Size
	// and SHA256 always cover the whole part. Default 50 MiB.
	MaxPartSize int64
}

// Parse builds the Message view of one raw mail.
//
// A malformed message still parses: every place that could not be decoded
// becomes a Problem naming the part ("2.1"), the header ("header", or
// "2.header" for a message attached as part 2) or the whole ("message"),
// and the rest is kept. Parse fails, with an error wrapping ErrNotMessage,
// only when there is nothing that reads as a mail: empty input, or no
// header field on the first line.
//
// Part.Content holds the transfer-decoded bytes as sent, not converted to
// UTF-8, so SHA256 matches the file a recipient would save; Text and HTML
// are the UTF-8 conversions. A message's Parts, Attachments, URLs and
// Problems include those of the messages attached to it (also parsed into
// Nested), so one look at the top level sees everything; Text and HTML hold
// only the message's own bodies.
func Parse(raw []byte, opts ParseOptions) (m *Message, err error) {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxPartSize <= 0 {
		opts.MaxPartSize = DefaultMaxPartSize
	}
	// A panic here would take a whole worker down with every message in
	// flight; one unreadable message is the lesser loss.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %v", errParserBug, r)
		}
	}()
	p := &parser{
		opts: opts,
		dec:  &mime.WordDecoder{CharsetReader: charset.Reader},
	}
	m, err = p.message(raw, "", 1)
	if err != nil {
		return nil, err
	}
	if p.dropped > 0 {
		m.Problems = append(m.Problems, Problem{Part: "message", Err: fmt.Sprintf("%d more problems not listed", p.dropped)})
	}
	return m, nil
}

type parser struct {
	opts     ParseOptions
	dec      *mime.WordDecoder
	problems int
	dropped  int
}

// builder collects one message while its parts are walked.
type builder struct {
	m         *Message
	text      strings.Builder
	html      strings.Builder
	urlsSeen  map[string]bool
	linksSeen map[Link]bool
}

func (p *parser) problem(b *builder, part, format string, args ...any) {
	if p.problems >= maxProblems {
		p.dropped++
		return
	}
	p.problems++
	b.m.Problems = append(b.m.Problems, Problem{Part: part, Err: fmt.Sprintf(format, args...)})
}

// message parses one whole mail, the top-level one (path "") or one
// attached as the part at path. depth counts the containers around the
// message's body, the message itself included.
func (p *parser) message(raw []byte, path string, depth int) (*Message, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNotMessage)
	}
	b := &builder{m: &Message{Raw: raw}, urlsSeen: map[string]bool{}, linksSeen: map[Link]bool{}}
	hdrPart := "header"
	if path != "" {
		hdrPart = path + ".header"
	}

	block, body, cut := splitHeader(raw)
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(block), strings.NewReader("\r\n"))))
	if h.Len() == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrNotMessage)
	}
	if err != nil {
		// splitHeader only passes lines that look like fields, so this is
		// go-message disagreeing; keep what it read.
		p.problem(b, hdrPart, "%v", err)
	}
	switch cut {
	case cutStray:
		p.problem(b, hdrPart, "a line that is not a header field ends the header early; the rest is read as the body")
	case cutSize:
		p.problem(b, hdrPart, "header larger than %d bytes; the fields past that were dropped", maxHeaderBytes)
	}

	p.header(b, h, hdrPart)
	p.body(b, h, body, path, depth)

	m := b.m
	m.Text = b.text.String()
	m.HTML = b.html.String()
	for i := range m.Parts {
		if m.Parts[i].Attachment {
			m.Attachments = append(m.Attachments, &m.Parts[i])
		}
	}
	return m, nil
}

type headerCut int

const (
	cutNone  headerCut = iota
	cutStray           // a non-field line ended the header
	cutSize            // the header was over maxHeaderBytes
)

// splitHeader finds the header block itself rather than leaving it to
// textproto.ReadHeader, which gives up on the first malformed line and
// cannot say where the body begins after it. Mail without the blank line
// before the body is common enough to deserve its body back.
func splitHeader(raw []byte) (block, body []byte, cut headerCut) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	// An mbox "From " separator line, as left by some exporters.
	if bytes.HasPrefix(raw, []byte("From ")) {
		first, rest, _ := bytes.Cut(raw, []byte("\n"))
		if !isFieldLine(first) {
			raw = rest
		}
	}
	// Blank lines before the header, as some editors save .eml files.
	for len(raw) > 0 && (raw[0] == '\r' || raw[0] == '\n') {
		raw = raw[1:]
	}

	end := -1 // where the header block ends, if cut short by size
	pos := 0
	fields := 0
	for pos < len(raw) {
		next := len(raw)
		if i := bytes.IndexByte(raw[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		line := bytes.TrimRight(raw[pos:next], "\r\n")
		switch {
		case len(line) == 0:
			return headerUpTo(raw, pos, end), raw[next:], cutKind(end)
		case line[0] == ' ' || line[0] == '\t':
			if fields == 0 {
				return nil, raw, cutNone
			}
		case isFieldLine(line):
			fields++
		default:
			if end >= 0 {
				return raw[:end], raw[pos:], cutSize
			}
			return raw[:pos], raw[pos:], cutStray
		}
		if end < 0 && next > maxHeaderBytes {
			end = next
		}
		pos = next
	}
	return headerUpTo(raw, pos, end), nil, cutKind(end)
}

func headerUpTo(raw []byte, pos, end int) []byte {
	if end >= 0 {
		return raw[:end]
	}
	return raw[:pos]
}

func cutKind(end int) headerCut {
	if end >= 0 {
		return cutSize
	}
	return cutNone
}

// isFieldLine reports whether line starts a header field: a name of
// printable ASCII without colon, then optional blanks (seen in the wild),
// then a colon. It accepts what textproto.ReadHeader accepts.
func isFieldLine(line []byte) bool {
	i := 0
	for i < len(line) && line[i] >= 33 && line[i] <= 126 && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

func (p *parser) header(b *builder, h textproto.Header, where string) {
	hd := &b.m.Header
	fs := h.Fields()
	for fs.Next() {
		v, err := p.decodeText(fs.Value())
		if err != nil {
			p.problem(b, where, "%s: %v", fs.Key(), err)
		}
		hd.Fields = append(hd.Fields, Field{Key: fs.Key(), Value: v})
	}
	hd.MessageID = strings.TrimSpace(h.Get("Message-Id"))
	hd.Subject = hd.Get("Subject")
	hd.From = p.addresses(b, h, "From", where)
	hd.Sender = p.addresses(b, h, "Sender", where)
	hd.ReplyTo = p.addresses(b, h, "Reply-To", where)
	hd.To = p.addresses(b, h, "To", where)
	hd.Cc = p.addresses(b, h, "Cc", where)
	rp := strings.TrimSpace(h.Get("Return-Path"))
	hd.ReturnPath = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(rp, "<"), ">"))
	hd.DateRaw = hd.Get("Date")
	if hd.DateRaw != "" {
		d, err := mail.ParseDate(hd.DateRaw)
		if err != nil {
			p.problem(b, where, "Date: %q: %v", hd.DateRaw, err)
		} else {
			hd.Date = d
		}
	}
}

// decodeText turns a header value into UTF-8: encoded-words decoded, and
// raw 8-bit bytes (invalid UTF-8) read as windows-1252, which is what
// mailers that send them nearly always meant.
func (p *parser) decodeText(v string) (string, error) {
	if !utf8.ValidString(v) {
		v = latin(v)
	}
	if !strings.Contains(v, "=?") {
		return v, nil
	}
	d, err := p.dec.DecodeHeader(v)
	if err != nil {
		return v, err
	}
	return strings.ToValidUTF8(d, "\uFFFD"), nil
}

func latin(s string) string {
	r, err := charset.Reader("windows-1252", strings.NewReader(s))
	if err == nil {
		if b, err := io.ReadAll(r); err == nil {
			return string(b)
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// addresses parses every field named key as an address list. A list that
// net/mail rejects is taken apart item by item, so one broken address does
// not hide the others; what still fails is reported.
func (p *parser) addresses(b *builder, h textproto.Header, key, where string) []*mail.Address {
	var out []*mail.Address
	fs := h.FieldsByKey(key)
	for fs.Next() {
		v := fs.Value()
		if !utf8.ValidString(v) {
			v = latin(v)
		}
		if strings.TrimSpace(v) == "" {
			continue
		}
		list, err := gomail.ParseAddressList(v)
		if err == nil {
			out = append(out, list...)
			continue
		}
		for _, item := range splitAddressList(v) {
			a, err := gomail.ParseAddress(item)
			if err != nil {
				a = p.salvageAddress(item)
				p.problem(b, where, "%s: cannot parse address %q: %v", key, item, err)
			}
			if a != nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// splitAddressList splits on commas outside quotes, comments and angle
// brackets.
func splitAddressList(v string) []string {
	var out []string
	quoted, angle, comment := false, 0, 0
	start := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && (quoted || comment > 0):
			i++
		case c == '"' && comment == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case c == '<' && comment == 0:
			angle++
		case c == '>' && comment == 0 && angle > 0:
			angle--
		case c == ',' && angle == 0 && comment == 0:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if start < len(v) {
		if s := strings.TrimSpace(v[start:]); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// salvageAddress keeps what a person would read as the address in an item
// net/mail rejects, such as `Name <a@b` or `a@b (x`.
func (p *parser) salvageAddress(item string) *mail.Address {
	name, addr := "", ""
	if i := strings.IndexByte(item, '<'); i >= 0 {
		name = item[:i]
		addr = item[i+1:]
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
	} else {
		for _, f := range strings.Fields(item) {
			if strings.Contains(f, "@") {
				addr = f
				break
			}
		}
	}
	addr = strings.Trim(addr, " \t\"'()<>,;")
	if !strings.Contains(addr, "@") {
		return nil
	}
	name = strings.Trim(strings.TrimSpace(name), `"`)
	if d, err := p.decodeText(name); err == nil {
		name = d
	}
	return &mail.Address{Name: name, Address: addr}
}

// body walks the body of a message whose parts are numbered under base:
// "1", "2" at the top level, "2.1", "2.2" for a message attached as part 2.
// A body that is not multipart is the message's part 1, as in IMAP.
func (p *parser) body(b *builder, h textproto.Header, body []byte, base string, depth int) {
	first := join(base, 1)
	ct := p.contentType(b, h, first)
	if strings.HasPrefix(ct.typ, "multipart/") {
		p.multipart(b, h, ct, body, base, first, depth)
		return
	}
	p.leaf(b, h, ct, body, first, depth)
}

func join(base string, n int) string {
	if base == "" {
		return strconv.Itoa(n)
	}
	return base + "." + strconv.Itoa(n)
}

// multipart walks the parts of a multipart entity at path ("" for the
// top-level body). leafPath is where the body goes if it must be kept as
// one part: the entity's own path, or part 1 of a message whose body it is.
func (p *parser) multipart(b *builder, h textproto.Header, ct contentType, body []byte, path, leafPath string, depth int) {
	where := path
	if path == "" {
		where = "message"
	}
	if depth > p.opts.MaxDepth {
		p.problem(b, where, "nesting deeper than %d levels; %s kept as one part without looking inside", p.opts.MaxDepth, ct.typ)
		p.leaf(b, h, contentType{typ: "application/octet-stream"}, body, leafPath, depth)
		return
	}
	boundary := ct.params["boundary"]
	if boundary == "" {
		p.problem(b, where, "%s without a boundary; body read as one text part", ct.typ)
		p.leaf(b, h, contentType{typ: "text/plain"}, body, leafPath, depth)
		return
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	for n := 1; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			if n == 1 {
				p.problem(b, where, "%s: no part with boundary %q found (%v); body read as one text part", ct.typ, boundary, err)
				p.leaf(b, h, contentType{typ: "text/plain"}, body, leafPath, depth)
			} else {
				p.problem(b, join(path, n), "unreadable part (%v); the rest of %s skipped", err, ct.typ)
			}
			return
		}
		child := join(path, n)
		if size := headerSize(part.Header); size > maxHeaderBytes {
			// go-message bounds only the top-level header; the input is in
			// memory already, so this costs nothing more to keep, but it is
			// no mail client's doing.
			p.problem(b, child, "part header of %d bytes, larger than %d", size, maxHeaderBytes)
		}
		content, rerr := io.ReadAll(part)
		cct := p.contentType(b, part.Header, child)
		if strings.HasPrefix(cct.typ, "multipart/") {
			p.multipart(b, part.Header, cct, content, child, child, depth+1)
		} else {
			p.leaf(b, part.Header, cct, content, child, depth+1)
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				p.problem(b, child, "%s ends without its closing boundary %q; this part runs to the end of the data and may be cut short", ct.typ, boundary)
			} else {
				p.problem(b, child, "reading part: %v", rerr)
			}
			return
		}
	}
}

func headerSize(h textproto.Header) int {
	n := 0
	fs := h.Fields()
	for fs.Next() {
		n += len(fs.Key()) + len(fs.Value()) + 4
	}
	return n
}

type contentType struct {
	typ    string
	params map[string]string
}

// contentType reads the Content-Type field. Absent means text/plain, as
// RFC 2045 says; so does an unparseable one, reported as a Problem.
func (p *parser) contentType(b *builder, h textproto.Header, path string) contentType {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return contentType{typ: "text/plain"}
	}
	typ, params, ok := parseParams(v)
	if !ok || !strings.Contains(typ, "/") {
		p.problem(b, path, "Content-Type %q cannot be parsed; read as text/plain", v)
		return contentType{typ: "text/plain", params: params}
	}
	return contentType{typ: typ, params: params}
}

// parseParams parses a Content-Type or Content-Disposition value. Values
// that mime.ParseMediaType rejects (an unclosed quote, a stray semicolon)
// are common enough that a plain split is tried before giving up.
func parseParams(v string) (string, map[string]string, bool) {
	typ, params, err := mime.ParseMediaType(v)
	if err == nil {
		return typ, params, true
	}
	fields := strings.Split(v, ";")
	typ = strings.ToLower(strings.TrimSpace(fields[0]))
	params = map[string]string{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := params[k]; !dup {
			params[k] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	ok := typ != "" && !strings.ContainsAny(typ, " \t\"")
	return typ, params, ok
}

// leaf records one leaf part and feeds its text to the message.
func (p *parser) leaf(b *builder, h textproto.Header, ct contentType, raw []byte, path string, depth int) {
	part := Part{
		Path:        path,
		ContentType: ct.typ,
		Charset:     strings.ToLower(strings.TrimSpace(ct.params["charset"])),
		Encoding:    strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))),
	}
	var dparams map[string]string
	if d := h.Get("Content-Disposition"); strings.TrimSpace(d) != "" {
		part.Disposition, dparams, _ = parseParams(d)
	}
	name := dparams["filename"]
	if name == "" {
		name = ct.params["name"]
	}
	if name != "" {
		part.Filename, _ = p.decodeText(name)
	}

	content, err := decodeTransfer(part.Encoding, raw)
	if err != nil {
		p.problem(b, path, "%v", err)
	}
	sum := sha256.Sum256(content)
	part.SHA256 = hex.EncodeToString(sum[:])
	part.Size = int64(len(content))
	part.Content = content
	if part.Size > p.opts.MaxPartSize {
		// A copy, so the rest of the decoded data can be freed.
		part.Content = bytes.Clone(content[:p.opts.MaxPartSize])
		part.Truncated = true
	}
	isMessage := ct.typ == "message/rfc822" || ct.typ == "message/global"
	isText := ct.typ == "text/plain" || ct.typ == "text/html"
	part.Attachment = isMessage || !isText || part.Disposition == "attachment" || part.Filename != ""
	b.m.Parts = append(b.m.Parts, part)

	switch {
	case isMessage:
		p.nested(b, content, path, depth)
	case part.Attachment:
	case ct.typ == "text/plain":
		s := p.toUTF8(b, &part, content)
		appendBody(&b.text, s)
		b.addLinks(TextLinks(s, path))
	default:
		s := p.toUTF8(b, &part, content)
		appendBody(&b.html, s)
		b.addLinks(HTMLLinks(s, path))
	}
}

func appendBody(sb *strings.Builder, s string) {
	if sb.Len() > 0 && s != "" {
		sb.WriteByte('\n')
	}
	sb.WriteString(s)
}

func (b *builder) addURL(u string) {
	if !b.urlsSeen[u] {
		b.urlsSeen[u] = true
		b.m.URLs = append(b.m.URLs, u)
	}
}

// addLinks records links and, for the web links among them, their URLs.
func (b *builder) addLinks(links []Link) {
	for _, l := range links {
		if !b.linksSeen[l] {
			b.linksSeen[l] = true
			b.m.Links = append(b.m.Links, l)
		}
		if u := webURL(l); u != "" {
			b.addURL(u)
		}
	}
}

// nested parses a message/rfc822 part and lifts its parts, problems and
// URLs into the message that carries it.
func (p *parser) nested(b *builder, raw []byte, path string, depth int) {
	if depth+1 > p.opts.MaxDepth {
		p.problem(b, path, "attached message nested deeper than %d levels; kept as a file without looking inside", p.opts.MaxDepth)
		return
	}
	nm, err := p.message(raw, path, depth+1)
	if err != nil {
		p.problem(b, path, "attached message kept as a file: %v", err)
		return
	}
	b.m.Nested = append(b.m.Nested, nm)
	b.m.Parts = append(b.m.Parts, nm.Parts...)
	b.m.Problems = append(b.m.Problems, nm.Problems...)
	// Links before URLs, so that URLs keeps the order of the nested
	// message's own list.
	for _, l := range nm.Links {
		if !b.linksSeen[l] {
			b.linksSeen[l] = true
			b.m.Links = append(b.m.Links, l)
		}
	}
	for _, u := range nm.URLs {
		b.addURL(u)
	}
}

// decodeTransfer undoes the Content-Transfer-Encoding. On failure it
// returns what decoded before the fault, so the part can still be hashed
// and looked at.
func decodeTransfer(enc string, raw []byte) ([]byte, error) {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return raw, nil
	case "base64":
		return decodeBase64(raw)
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return out, fmt.Errorf("%v; kept the %d bytes decoded before it", err, len(out))
		}
		return out, nil
	}
	return raw, fmt.Errorf("unknown Content-Transfer-Encoding %q; content kept as sent", enc)
}

// decodeBase64 is lenient where mailers commonly are sloppy (blanks inside
// lines, missing padding) and precise about where real damage is.
func decodeBase64(raw []byte) ([]byte, error) {
	clean := make([]byte, 0, len(raw))
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	if pad := (4 - len(clean)%4) % 4; pad > 0 && pad < 3 && bytes.IndexByte(clean, '=') < 0 {
		clean = append(clean, "=="[:pad]...)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err == nil {
		return out[:n], nil
	}
	var ce base64.CorruptInputError
	if !errors.As(err, &ce) {
		return out[:n], fmt.Errorf("base64: %v", err)
	}
	at, line := rawOffset(raw, int(ce))
	return out[:n], fmt.Errorf("illegal base64 data at byte %d (line %d of the part body); kept the %d bytes decoded before it", at, line, n)
}

// rawOffset maps the offset of the n-th non-blank byte back to its place
// in raw, and the 1-based line it is on, which is what a person opening the
// file can find.
func rawOffset(raw []byte, n int) (at, line int) {
	line = 1
	seen := 0
	for i, c := range raw {
		switch c {
		case '\n':
			line++
			continue
		case ' ', '\t', '\r':
			continue
		}
		if seen == n {
			return i, line
		}
		seen++
	}
	return len(raw), line
}

// toUTF8 converts a text body to UTF-8 with LF line ends, so analyzers
// need not care how it was sent.
func (p *parser) toUTF8(b *builder, part *Part, content []byte) string {
	return strings.ReplaceAll(p.decodeCharset(b, part, content), "\r\n", "\n")
}

// decodeCharset converts a text body to UTF-8. Undeclared or mislabelled
// 8-bit text is read as windows-1252, as browsers do; an HTML body without
// a charset parameter gets the HTML sniffing rules (BOM, <meta>).
func (p *parser) decodeCharset(b *builder, part *Part, content []byte) string {
	cs := part.Charset
	if cs == "" && part.ContentType == "text/html" {
		_, cs, _ = htmlcharset.DetermineEncoding(content, "text/html")
	}
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(content) {
			return string(content)
		}
		if cs == "utf-8" || cs == "utf8" {
			return strings.ToValidUTF8(string(content), "\uFFFD")
		}
		cs = "windows-1252"
	}
	r, err := charset.Reader(cs, bytes.NewReader(content))
	if err != nil {
		p.problem(b, part.Path, "unknown charset %q; undecodable bytes replaced", part.Charset)
		return strings.ToValidUTF8(string(content), "\uFFFD")
	}
	out, err := io.ReadAll(r)
	if err != nil {
		p.problem(b, part.Path, "decoding charset %q: %v", cs, err)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// urlPattern finds URLs written out in text. It stops at characters that
// cannot appear unescaped in a URL and at brackets that usually close
// around one; trimURL then drops trailing punctuation.
var urlPattern = regexp.MustCompile(`(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'` + "`" + `{}|\\^\[\]]+`)

// textURL is a URL found in text: as written, and as a URL.
type textURL struct{ written, url string }

func findTextURLs(s string) []textURL {
	if !strings.Contains(s, "://") && !strings.Contains(s, "www.") && !strings.Contains(s, "WWW.") {
		return nil
	}
	var out []textURL
	for _, w := range urlPattern.FindAllString(s, -1) {
		if w, u := trimURL(w); u != "" {
			out = append(out, textURL{written: w, url: u})
		}
	}
	return out
}

// textURLs lists the URLs written out in a text, as Message.URLs has them.
func textURLs(s string) []string {
	var out []string
	for _, u := range findTextURLs(s) {
		out = append(out, u.url)
	}
	return out
}

// htmlURLs lists the web links of an HTML body (href, src, form action)
// and the URLs written in its text, in document order.
func htmlURLs(s string) []string {
	var out []string
	for _, l := range HTMLLinks(s, "") {
		if u := webURL(l); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// webURL is the URL of a link that Message.URLs lists, or "".
func webURL(l Link) string {
	if l.Kind == LinkText {
		return l.URL
	}
	return linkURL(l.URL)
}

// trimURL drops trailing punctuation from a URL found in text and returns
// it as written and as a URL ("http://" put before "www.").
func trimURL(u string) (written, url string) {
	for u != "" {
		last := u[len(u)-1]
		if strings.IndexByte(".,;:!?'*", last) >= 0 ||
			last == ')' && strings.Count(u, "(") < strings.Count(u, ")") {
			u = u[:len(u)-1]
			continue
		}
		break
	}
	if i := strings.Index(u, "://"); i >= 0 && i+3 == len(u) {
		return "", ""
	}
	if len(u) >= 4 && strings.EqualFold(u[:4], "www.") {
		if len(u) == 4 {
			return "", ""
		}
		return u, "http://" + u
	}
	return u, u
}

// TextLinks lists the URLs written out in a text, as links of kind
// LinkText found in the given part.
func TextLinks(s, part string) []Link {
	var out []Link
	for _, u := range findTextURLs(s) {
		out = append(out, Link{URL: u.url, Text: u.written, Part: part, Kind: LinkText})
	}
	return out
}

// HTMLLinks lists the links of an HTML document found in the given part,
// in document order: link targets (href, src, form action, formaction,
// background) with the text of the anchor around them, and URLs written in
// its text. It is what Parse uses for text/html bodies; analyzers call it
// for HTML they find elsewhere, such as attached .html files.
func HTMLLinks(s, part string) []Link {
	var out []Link
	anchor := -1 // index in out of the <a> whose text is being read
	var text strings.Builder
	closeAnchor := func() {
		if anchor >= 0 {
			out[anchor].Text = displayText(text.String())
		}
		anchor = -1
		text.Reset()
	}
	skip := 0 // inside <script> or <style>: text nobody sees
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			closeAnchor()
			return out
		case html.TextToken:
			raw := string(z.Text())
			if anchor >= 0 && skip == 0 && text.Len() < 4*MaxLinkText {
				text.WriteString(raw)
				text.WriteByte(' ')
			}
			out = append(out, TextLinks(raw, part)...)
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.A:
				closeAnchor()
			case atom.Script, atom.Style:
				if skip > 0 {
					skip--
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			tag := atom.Lookup(name)
			switch tag {
			case atom.A:
				closeAnchor()
			case atom.Script, atom.Style:
				if tt == html.StartTagToken {
					skip++
				}
			}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				var kind LinkKind
				switch string(k) {
				case "href":
					kind = LinkSrc
					if tag == atom.A || tag == atom.Area {
						kind = LinkHref
					}
				case "src", "background":
					kind = LinkSrc
				case "action", "formaction":
					kind = LinkFormAction
				case "alt":
					if tag == atom.Img && anchor >= 0 && text.Len() < 4*MaxLinkText {
						text.Write(v)
						text.WriteByte(' ')
					}
					continue
				default:
					continue
				}
				u, ok := keptLink(string(v))
				if !ok {
					continue
				}
				out = append(out, Link{URL: u, Part: part, Kind: kind})
				if kind == LinkHref && tag == atom.A && tt == html.StartTagToken {
					anchor = len(out) - 1
				}
			}
		}
	}
}

// displayText collapses blanks and bounds the length of an anchor's text.
func displayText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > MaxLinkText {
		r := []rune(s)
		s = string(r[:MaxLinkText])
	}
	return s
}

// keptLink says whether an attribute value is a link worth listing, and
// trims it. Browsers ignore tabs and line breaks inside a URL, so the
// scheme is read without them ("java&#9;script:" is javascript:).
func keptLink(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false
	}
	if strings.HasPrefix(v, "//") {
		return v, len(v) > 2
	}
	scheme := urlScheme(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v))
	switch scheme {
	case "", "cid", "mailto", "tel", "sms", "callto":
		return "", false
	case "data":
		if len(v) > MaxDataURL {
			v = v[:MaxDataURL]
			for !utf8.ValidString(v) {
				v = v[:len(v)-1]
			}
		}
	}
	return v, true
}

// urlScheme returns the lower-case scheme of an absolute URL, or "".
func urlScheme(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.ToLower(v[:i])
		default:
			return ""
		}
	}
	return ""
}

// linkURL keeps absolute web links; relative ones, mailto:, cid: and the
// like point nowhere a URL checker can look.
func linkURL(v string) string {
	v = strings.TrimSpace(v)
	lower := strings.ToLower(v)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "ftp://") {
		if i := strings.Index(v, "://"); i+3 < len(v) {
			return v
		}
	}
	return ""
}

// HTMLText returns the text a reader sees in an HTML body: tags, scripts
// and styles removed, block elements on lines of their own, runs of blanks
// collapsed. Text analyzers use it for mail that has no text/plain body.
func HTMLText(s string) string {
	var sb strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	newline := func() {
		if sb.Len() > 0 && !strings.HasSuffix(sb.String(), "\n") {
			sb.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(sb.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			for _, w := range strings.Fields(string(z.Text())) {
				if sb.Len() > 0 && !strings.HasSuffix(sb.String(), "\n") {
					sb.WriteByte(' ')
				}
				sb.WriteString(w)
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); a {
			case atom.Script, atom.Style, atom.Title:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br, atom.P, atom.Div, atom.Tr, atom.Li, atom.Table, atom.H1, atom.H2,
				atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Hr, atom.Ul, atom.Ol:
				newline()
			}
		}
	}
}
