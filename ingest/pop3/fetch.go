package pop3

import (
	"context"
	"io"
	"strconv"
	"strings"
)

// maxInflightBytes bounds what a stopped Fetch may still have to read and
// discard: the RETRs already sent cannot be taken back. Pipelining pays for
// small messages (round trips dominate); for large ones it gains nothing,
// so the window shrinks to one as sizes grow.
const maxInflightBytes = 1 << 20

// Fetch retrieves the given messages in order and calls fn once for each
// with the message's body as it arrives: nothing is held in memory beyond
// a read buffer, whatever the mailbox size.
//
// When the server advertises PIPELINING, RETR commands are sent in windows
// of up to Config.Pipeline, bounded so that no more than about 1 MB of
// messages of known size (from List, UIDL or Messages) is in flight;
// otherwise one at a time.
//
// The body is byte-exact: exactly the octets the server sends for the
// message, CRLF line endings included, with the dot-stuffing removed. It
// is valid only during fn; what fn leaves unread is read and discarded.
// If the connection breaks or stalls mid-message, body.Read returns an
// error matching ErrTruncated (and ErrTimeout for a stall), never io.EOF,
// and Fetch returns that error.
//
// If fn returns an error, Fetch stops calling fn, reads and discards the
// responses to RETRs already sent, and returns fn's error unwrapped; the
// session stays usable, so messages handled before can still be deleted.
// A -ERR for one message (*Error) stops the Fetch the same way.
//
// fn must not call methods of the Client.
func (c *Client) Fetch(ctx context.Context, ids []int, fn func(info MessageInfo, body io.Reader) error) error {
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	window := 1
	if c.Has("PIPELINING") {
		window = c.cfg.Pipeline
	}
	var (
		sent, done int
		inflight   int64 // known sizes of messages sent for and not yet read
		stopErr    error // from fn or a -ERR: send no more, finish those in flight
		buf        []byte
	)
	for done < sent || (stopErr == nil && done < len(ids)) {
		// Top up only when half the window is free, so commands leave in
		// batches rather than one write per message.
		if stopErr == nil && sent < len(ids) && sent-done <= window/2 {
			for sent < len(ids) && sent-done < window && (sent == done || inflight < maxInflightBytes) {
				buf = append(buf[:0], "RETR "...)
				buf = strconv.AppendInt(buf, int64(ids[sent]), 10)
				buf = append(buf, "\r\n"...)
				c.w.Write(buf)
				inflight += c.known[ids[sent]].Size
				sent++
			}
		}
		id := ids[done]
		done++
		inflight -= c.known[id].Size
		cmd := "RETR " + strconv.Itoa(id)
		resp, err := c.readResponse(cmd)
		if err != nil {
			if c.err != nil {
				return err
			}
			if stopErr == nil {
				stopErr = err
			}
			continue
		}
		body := c.newBody(cmd)
		if stopErr == nil {
			info := c.known[id]
			info.ID = id
			if info.Size == 0 {
				info.Size = octets(resp.text)
			}
			g := &guardedReader{r: body}
			c.inFetch = true
			stopErr = fn(info, g)
			c.inFetch = false
			g.r = nil
		}
		if err := body.drain(); err != nil {
			return err
		}
	}
	return stopErr
}

// octets reads the size from "+OK 1234 octets", the customary RETR reply.
func octets(text string) int64 {
	f := strings.Fields(text)
	if len(f) >= 2 && strings.EqualFold(f[1], "octets") {
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return 0
}

// guardedReader stops a callback's body from being read after it returns,
// when the connection has moved on to the next message.
type guardedReader struct{ r io.Reader }

func (g *guardedReader) Read(p []byte) (int, error) {
	if g.r == nil {
		return 0, errBodyDone
	}
	return g.r.Read(p)
}

// Dele marks messages deleted (RFC 1939 DELE), pipelined when the server
// allows. Nothing is removed yet: the server deletes marked messages only
// when the session ends with a successful Quit (the UPDATE state); Close,
// a dropped connection or Rset keep them all. All responses are read even
// after a -ERR, and the first error is returned.
func (c *Client) Dele(ctx context.Context, ids ...int) error {
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	window := 1
	if c.Has("PIPELINING") {
		window = c.cfg.Pipeline
	}
	var first error
	sent, done := 0, 0
	for done < len(ids) {
		if sent-done <= window/2 {
			for sent < len(ids) && sent-done < window {
				c.send("DELE " + strconv.Itoa(ids[sent]))
				sent++
			}
		}
		_, err := c.readResponse("DELE " + strconv.Itoa(ids[done]))
		done++
		if err != nil {
			if c.err != nil {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}
