package pop3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// maxLine bounds one response line. RFC 2449 allows 512 octets; listings and
// SASL challenges from real servers stay far below this, so anything longer
// is a desynchronised or hostile peer rather than data worth buffering.
const maxLine = 64 << 10

// deadlineConn puts a fresh deadline on every read and write, so a peer that
// stalls at any point (greeting, mid-body, after a pipelined batch) turns
// into an error after timeout instead of a hang. It also lets a Context
// interrupt blocked I/O.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu  sync.Mutex
	ctx context.Context // of the operation in progress; nil between operations
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if err := d.arm(d.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	n, err := d.Conn.Read(p)
	if err != nil {
		err = d.cause(err)
	}
	return n, err
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if err := d.arm(d.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	n, err := d.Conn.Write(p)
	if err != nil {
		err = d.cause(err)
	}
	return n, err
}

// arm runs under mu so that a cancellation racing with it either is seen
// here or lands after the new deadline and overrides it; never lost.
func (d *deadlineConn) arm(set func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := time.Now().Add(d.timeout)
	if d.ctx != nil {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		if dl, ok := d.ctx.Deadline(); ok && dl.Before(t) {
			t = dl
		}
	}
	return set(t)
}

// cause reports a cancelled context rather than the deadline we used to
// interrupt the read, so callers see context.Canceled where they caused it.
func (d *deadlineConn) cause(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || !isTimeout(err) {
		return err
	}
	if cerr := d.ctx.Err(); cerr != nil {
		return cerr
	}
	// The context's own timer may not have fired yet.
	if dl, ok := d.ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return err
}

// swap replaces the connection underneath, after STLS.
func (d *deadlineConn) swap(c net.Conn) {
	d.mu.Lock()
	d.Conn = c
	d.mu.Unlock()
}

// watch ties ctx to the connection until stop is called. Only the most
// recent watch is in force.
func (d *deadlineConn) watch(ctx context.Context) (stop func()) {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	stopAfter := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.ctx == ctx {
			d.Conn.SetDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		stopAfter()
		d.mu.Lock()
		if d.ctx == ctx {
			d.ctx = nil
		}
		d.mu.Unlock()
	}
}

// readLine returns the next line without its line ending. Bare LF is
// accepted as an ending because some servers send it; the returned slice
// is valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than the buffer: rare, so copying is fine.
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf) > maxLine {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxLine)
			}
			line, err = r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if len(line) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) > maxLine {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxLine)
	}
	return trimEOL(line), nil
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// response is a parsed status line.
type response struct {
	ok   bool
	code string // RFC 2449 response code, without brackets
	text string
}

// parseResponse parses "+OK ..." or "-ERR [CODE] ...". The status is
// matched without regard to case because some servers send "+ok"; anything
// else, including "+OKAY", is a protocol error: treating it as a status
// would hide a connection that is out of step.
func parseResponse(line []byte) (response, error) {
	var resp response
	var rest []byte
	switch {
	case hasPrefixFold(line, "+OK"):
		resp.ok, rest = true, line[3:]
	case hasPrefixFold(line, "-ERR"):
		rest = line[4:]
	default:
		return resp, fmt.Errorf("%w: status line %q", ErrProtocol, clip(line))
	}
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return resp, fmt.Errorf("%w: status line %q", ErrProtocol, clip(line))
	}
	rest = bytes.TrimLeft(rest, " \t")
	if len(rest) > 0 && rest[0] == '[' {
		if end := bytes.IndexByte(rest, ']'); end > 1 && validCode(rest[1:end]) {
			resp.code = string(rest[1:end])
			rest = bytes.TrimLeft(rest[end+1:], " \t")
		}
	}
	resp.text = printable(rest)
	return resp, nil
}

// validCode follows RFC 2449: levels of CHAR except "/" and "]", joined by
// "/". Spaces are excluded too, so "[not a code] text" stays text.
func validCode(b []byte) bool {
	for _, level := range bytes.Split(b, []byte("/")) {
		if len(level) == 0 {
			return false
		}
		for _, c := range level {
			if c <= ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// printable keeps server text safe to put in logs and terminals.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return '?'
		}
		return r
	}, string(b))
}

func clip(b []byte) string {
	const n = 64
	if len(b) > n {
		return printable(b[:n]) + "..."
	}
	return printable(b)
}

// dotReader streams the payload of a multi-line response (RFC 1939 §3):
// it removes the leading termination octet of stuffed lines and stops at
// the line holding only ".". Unlike net/textproto's DotReader it leaves
// line endings alone, so what the server stored is what the caller reads.
type dotReader struct {
	r    *bufio.Reader
	bol  bool  // at the beginning of a line
	n    int64 // payload bytes returned so far
	done bool
	err  error                          // sticky
	fail func(n int64, err error) error // turns a transport error into the caller's error
}

func newDotReader(r *bufio.Reader, fail func(int64, error) error) *dotReader {
	return &dotReader{r: r, bol: true, fail: fail}
}

func (d *dotReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		if d.bol {
			if n > 0 && d.r.Buffered() < 3 {
				// Hand over what we have rather than block on the next line.
				break
			}
			b, err := d.r.Peek(3)
			switch {
			case len(b) == 0:
				return d.broken(n, err)
			case b[0] != '.':
			case len(b) >= 2 && b[1] == '\n':
				d.r.Discard(2)
				return d.finish(n)
			case len(b) == 3 && b[1] == '\r' && b[2] == '\n':
				d.r.Discard(3)
				return d.finish(n)
			case len(b) < 3 && (len(b) < 2 || b[1] == '\r'):
				// ".", ".\r" and then nothing: cannot tell end from data.
				return d.broken(n, err)
			default:
				d.r.Discard(1) // the stuffed dot
			}
			d.bol = false
		}
		if d.r.Buffered() == 0 {
			if n > 0 {
				break
			}
			if _, err := d.r.Peek(1); err != nil {
				return d.broken(n, err)
			}
		}
		// Only a line that starts with a dot needs work, so copy everything
		// up to the next "\n." in one go rather than line by line.
		buf, _ := d.r.Peek(min(d.r.Buffered(), len(p)-n))
		if i := bytes.Index(buf, dotLine); i >= 0 {
			buf = buf[:i+1]
		}
		d.bol = buf[len(buf)-1] == '\n'
		n += copy(p[n:], buf)
		d.r.Discard(len(buf))
	}
	d.n += int64(n)
	return n, nil
}

var dotLine = []byte("\n.")

func (d *dotReader) finish(n int) (int, error) {
	d.n += int64(n)
	d.done = true
	return n, io.EOF
}

// broken returns the bytes already copied with no error; the next call
// reports the failure. Either way the caller never sees io.EOF.
func (d *dotReader) broken(n int, err error) (int, error) {
	d.n += int64(n)
	if err == io.EOF {
		err = nil
	}
	d.err = d.fail(d.n, err)
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}

// drain reads to the end of the response so the next one can be read.
func (d *dotReader) drain() error {
	_, err := io.Copy(io.Discard, d)
	return err
}

var errBodyDone = errors.New("pop3: message body read after its callback returned")
