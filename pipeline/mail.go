package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Mail is one raw message handed to Publish.
type Mail struct {
	Mailbox string
	UIDL    string // empty when the server has none
	ID      string // MessageID(Mailbox, UIDL)
	// Size is the body's length when known in advance (POP3 LIST gives it);
	// it picks inline or object store before reading. Zero means unknown.
	Size int64
	Body io.Reader
	// Skipped, when set, says why the message itself was not fetched (it is
	// over max_message_size); Body then holds only its header, and every
	// analyzer reports `skipped` with this reason.
	Skipped string
	// Buf, when it has room for Size, is used to read a body that goes
	// inline instead of a new buffer. Pending.Buf returns the buffer used,
	// which a caller may reuse once Wait returned without error: JetStream
	// then has the message and the client no longer needs it.
	Buf []byte
}

// Published says what JetStream did with a published message.
type Published struct {
	Sequence  uint64
	Duplicate bool // already in the stream: this fetch was a repeat
	Blob      bool // the body went to the object store
	Size      int64
}

// headerRoom is what the NATS headers of a MAIL message take at most; a body
// that fits the max payload minus this goes inline.
const headerRoom = 1024

// Publish puts a message on MAIL and returns once JetStream has acknowledged
// it: only then may ingest record or delete it.
func (c *Conn) Publish(ctx context.Context, m Mail) (Published, error) {
	p, err := c.PublishAsync(ctx, m)
	if err != nil {
		return Published{}, err
	}
	return p.Wait(ctx)
}

// PublishAsync puts a message on MAIL without waiting for the
// acknowledgement; Wait on the result gives it. Ingest keeps many publishes
// in flight this way, which is most of its speed.
//
// The body is read before PublishAsync returns. Bodies too large for one NATS
// message are streamed into the object store first (synchronously) and the
// stream message carries only a reference, so a crash in between leaves at
// worst an orphan object that the bucket's TTL removes.
func (c *Conn) PublishAsync(ctx context.Context, m Mail) (*Pending, error) {
	limit := c.NC.MaxPayload() - headerRoom
	msg := publishMsg(SubjectMailPrefix+m.Mailbox, m.ID, StreamMail, nil)
	msg.Header[HeaderMailbox] = []string{m.Mailbox}
	if m.UIDL != "" {
		msg.Header[HeaderUIDL] = []string{m.UIDL}
	}
	msg.Header[HeaderReceived] = []string{time.Now().UTC().Format(time.RFC3339Nano)}
	if m.Skipped != "" {
		msg.Header[HeaderSkipped] = []string{m.Skipped}
	}

	p := c.pending("publish " + m.ID + " to " + StreamMail)
	// While the connection is down a publish would wait in the client's
	// reconnect buffer until its acknowledgement times out. Ingest is better
	// served by failing now: the mail stays on the POP3 server for later.
	if !c.NC.IsConnected() {
		return nil, fmt.Errorf("%s: %w", p.what, nats.ErrDisconnected)
	}
	if m.Size > 0 && m.Size > limit {
		n, err := c.putBlob(ctx, m.ID, m.Body)
		if err != nil {
			return nil, err
		}
		p.out.Blob, p.out.Size = true, n
	} else {
		// Read one byte past the limit to learn whether it fits without
		// holding more than the limit in memory.
		buf, err := readUpTo(m.Body, m.Buf, m.Size, limit+1)
		if err != nil {
			return nil, fmt.Errorf("read message %s: %w", m.ID, err)
		}
		if int64(len(buf)) > limit {
			n, err := c.putBlob(ctx, m.ID, io.MultiReader(bytes.NewReader(buf), m.Body))
			if err != nil {
				return nil, err
			}
			p.out.Blob, p.out.Size = true, n
		} else {
			msg.Data, p.buf = buf, buf
			p.out.Size = int64(len(buf))
		}
	}
	if p.out.Blob {
		msg.Header[HeaderBlob] = []string{m.ID}
	}
	size := p.out.Size
	if m.Skipped != "" {
		size = max(size, m.Size) // the size on the server, not of the header sent
	}
	msg.Header[HeaderSize] = []string{strconv.FormatInt(size, 10)}
	return c.send(p, msg)
}

// readUpTo reads r to its end or to limit bytes, whichever comes first,
// into one buffer sized from the expected size (0: unknown), so a message
// of known size costs one allocation rather than io.ReadAll's doublings,
// and none when buf has room for it.
func readUpTo(r io.Reader, buf []byte, size, limit int64) ([]byte, error) {
	n := limit
	switch {
	case size > 0 && size+512 < n:
		n = size + 512 // room for the final CRLF some servers add
	case size <= 0:
		// Unknown size: start small and grow, rather than clear a whole
		// max-payload buffer for what is mostly a few kilobytes.
		n = min(n, 32<<10)
	}
	b := buf[:0]
	if int64(cap(b)) < n {
		b = make([]byte, 0, n)
	}
	for {
		if len(b) == cap(b) {
			if int64(len(b)) >= limit {
				return b, nil
			}
			b = slices.Grow(b, int(min(int64(cap(b)), limit-int64(len(b)))))
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// PutStateAsync writes a key of the ingest state bucket without waiting; a
// KV put is a publish on the bucket's stream, so it pipelines like one.
func (c *Conn) PutStateAsync(key string, value []byte) (*Pending, error) {
	p := c.pending("ingest state: put " + key)
	if !c.NC.IsConnected() {
		return nil, fmt.Errorf("%s: %w", p.what, nats.ErrDisconnected)
	}
	return c.send(p, publishMsg("$KV."+BucketUIDL+"."+key, "", "KV_"+BucketUIDL, value))
}

// send publishes msg for p; the acknowledgement timeout counts from here,
// not from reading the body.
func (c *Conn) send(p *Pending, msg *nats.Msg) (*Pending, error) {
	a, err := c.pub.send(msg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	p.ack = a
	return p, nil
}

// Pending is a publish in flight.
type Pending struct {
	pub  *publisher
	ack  *pubAck
	out  Published
	what string
	buf  []byte // the body, for reuse after the acknowledgement
}

// Buf returns the buffer the body was read into, nil if it went to the
// object store. See Mail.Buf for when it may be reused.
func (p *Pending) Buf() []byte { return p.buf }

func (c *Conn) pending(what string) *Pending {
	return &Pending{pub: c.pub, what: what}
}

// pubAckTimeout bounds the wait for an acknowledgement. It counts from the
// publish, not from the Wait, so a caller waiting for many publishes in
// turn while JetStream is gone is done after this long, not after this
// long for each.
const pubAckTimeout = 30 * time.Second

// Wait returns once JetStream acknowledged or refused the publish. If the
// connection drops before the acknowledgement comes, Wait fails: the
// acknowledgement is lost even if JetStream stored the message, and the
// client may keep the publish in its reconnect buffer for as long as the
// outage lasts. A caller that publishes again gets a duplicate
// acknowledgement for what JetStream did store.
func (p *Pending) Wait(ctx context.Context) (Published, error) {
	if err := p.pub.wait(ctx, p.ack, pubAckTimeout); err != nil {
		return p.out, fmt.Errorf("%s: %w", p.what, err)
	}
	p.out.Sequence, p.out.Duplicate = p.ack.seq, p.ack.dup
	return p.out, nil
}

func (c *Conn) putBlob(ctx context.Context, id string, r io.Reader) (int64, error) {
	os, err := c.JS.ObjectStore(ctx, BucketBlobs)
	if err != nil {
		return 0, fmt.Errorf("object store %s: %w", BucketBlobs, err)
	}
	info, err := os.Put(ctx, jetstream.ObjectMeta{Name: id}, r)
	if err != nil {
		return 0, fmt.Errorf("object store %s: put %s: %w", BucketBlobs, id, err)
	}
	return int64(info.Size), nil
}

// Body returns the raw bytes of a MAIL message, reading them from the object
// store when the message carries only a reference.
func (c *Conn) Body(ctx context.Context, h nats.Header, data []byte) ([]byte, error) {
	name := h.Get(HeaderBlob)
	if name == "" {
		return data, nil
	}
	os, err := c.JS.ObjectStore(ctx, BucketBlobs)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", BucketBlobs, err)
	}
	b, err := os.GetBytes(ctx, name)
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, fmt.Errorf("object store %s: %s is gone (expired or deleted): %w", BucketBlobs, name, err)
		}
		return nil, fmt.Errorf("object store %s: get %s: %w", BucketBlobs, name, err)
	}
	return b, nil
}
