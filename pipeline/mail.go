package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Mail is one raw message handed to Publish.
type Mail struct {
	Mailbox string
	UIDL    string // empty when the server has none
	ID      string // MessageID(Mailbox, UIDL), or ContentID for no UIDL
	// Size is the body's length when known in advance (POP3 LIST gives it);
	// it picks inline or object store before reading. Zero means unknown.
	Size int64
	Body io.Reader
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
// it: only then may ingest record or delete it. Bodies too large for one NATS
// message are streamed into the object store first and the stream message
// carries only a reference, so a crash in between leaves at worst an orphan
// object that the bucket's TTL removes.
func (c *Conn) Publish(ctx context.Context, m Mail) (Published, error) {
	limit := c.NC.MaxPayload() - headerRoom
	msg := nats.NewMsg(SubjectMailPrefix + m.Mailbox)
	msg.Header.Set(HeaderMailbox, m.Mailbox)
	if m.UIDL != "" {
		msg.Header.Set(HeaderUIDL, m.UIDL)
	}
	msg.Header.Set(HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))

	var out Published
	if m.Size > 0 && m.Size > limit {
		n, err := c.putBlob(ctx, m.ID, m.Body)
		if err != nil {
			return out, err
		}
		out.Blob, out.Size = true, n
	} else {
		// Read one byte past the limit to learn whether it fits without
		// holding more than the limit in memory.
		buf, err := io.ReadAll(io.LimitReader(m.Body, limit+1))
		if err != nil {
			return out, fmt.Errorf("read message %s: %w", m.ID, err)
		}
		if int64(len(buf)) > limit {
			n, err := c.putBlob(ctx, m.ID, io.MultiReader(bytes.NewReader(buf), m.Body))
			if err != nil {
				return out, err
			}
			out.Blob, out.Size = true, n
		} else {
			msg.Data = buf
			out.Size = int64(len(buf))
		}
	}
	if out.Blob {
		msg.Header.Set(HeaderBlob, m.ID)
	}
	msg.Header.Set(HeaderSize, strconv.FormatInt(out.Size, 10))
	ack, err := c.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(StreamMail))
	if err != nil {
		return out, fmt.Errorf("publish %s to %s: %w", m.ID, StreamMail, err)
	}
	out.Sequence, out.Duplicate = ack.Sequence, ack.Duplicate
	return out, nil
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
