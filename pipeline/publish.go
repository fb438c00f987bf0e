package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/encoding/json"
)

// publisher sends messages to JetStream without waiting and routes each
// acknowledgement back to its publish: one wildcard reply subscription per
// connection, a token per publish. It is the protocol jetstream's
// PublishAsync speaks, kept to what mailsift needs: one channel per
// publish instead of a future with two and a timer, the acknowledgement
// decoded without reflection, and a lost connection noticed once for every
// publish in flight instead of by each publish reading the connection's
// statistics under its lock. Every publish of ingest, the workers and the
// reporter that waits for its acknowledgement goes through it.
type publisher struct {
	nc     *nats.Conn    // set by subscribe
	prefix string        // reply subjects are prefix + token
	lost   atomic.Uint64 // connection losses so far

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]*pubAck
}

// pubAck is one publish's outcome, set before done is closed.
type pubAck struct {
	done  chan struct{}
	token uint64
	lost  uint64    // the publisher's losses when it was sent
	sent  time.Time // when it was sent
	seq   uint64
	dup   bool
	err   error
}

func newPublisher() *publisher {
	return &publisher{prefix: nats.NewInbox() + ".", waiting: map[uint64]*pubAck{}}
}

// subscribe starts routing acknowledgements; before the first send.
func (p *publisher) subscribe(nc *nats.Conn) error {
	p.nc = nc
	sub, err := nc.Subscribe(p.prefix+"*", p.route)
	if err != nil {
		return fmt.Errorf("subscribe to acknowledgements: %w", err)
	}
	// Acknowledgements are small and handled at once; the defaults would
	// call a burst of them a slow consumer and drop the rest.
	return sub.SetPendingLimits(-1, -1)
}

// send publishes m with a reply subject of its own. The caller waits for
// the outcome with wait, or may drop it: it is forgotten when it comes.
func (p *publisher) send(m *nats.Msg) (*pubAck, error) {
	a := &pubAck{done: make(chan struct{}), lost: p.lost.Load(), sent: time.Now()}
	p.mu.Lock()
	p.next++
	a.token = p.next
	p.waiting[a.token] = a
	p.mu.Unlock()
	m.Reply = p.prefix + strconv.FormatUint(a.token, 10)
	if err := p.nc.PublishMsg(m); err != nil {
		p.forget(a)
		return nil, err
	}
	return a, nil
}

// ackReply is JetStream's answer to a publish: an acknowledgement or an
// error.
type ackReply struct {
	Stream    string              `json:"stream"`
	Seq       uint64              `json:"seq"`
	Duplicate bool                `json:"duplicate"`
	Error     *jetstream.APIError `json:"error"`
}

func (p *publisher) route(m *nats.Msg) {
	token, err := strconv.ParseUint(m.Subject[min(len(p.prefix), len(m.Subject)):], 10, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	a := p.waiting[token]
	delete(p.waiting, token)
	p.mu.Unlock()
	if a == nil {
		return // given up on, or its connection was lost
	}
	var r ackReply
	switch {
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		a.err = jetstream.ErrNoStreamResponse
	case json.Unmarshal(m.Data, &r) != nil:
		a.err = fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, m.Data)
	case r.Error != nil:
		a.err = r.Error
	case r.Stream == "":
		a.err = fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, m.Data)
	default:
		a.seq, a.dup = r.Seq, r.Duplicate
	}
	close(a.done)
}

// connectionLost fails every publish in flight: their acknowledgements
// are gone with the connection, even where JetStream stored the message.
// A publish sent again gets a duplicate acknowledgement for what it did
// store.
func (p *publisher) connectionLost() {
	p.lost.Add(1)
	p.mu.Lock()
	waiting := p.waiting
	p.waiting = map[uint64]*pubAck{}
	p.mu.Unlock()
	for _, a := range waiting {
		a.err = fmt.Errorf("connection lost before the acknowledgement: %w", nats.ErrDisconnected)
		close(a.done)
	}
}

func (p *publisher) forget(a *pubAck) {
	p.mu.Lock()
	delete(p.waiting, a.token)
	p.mu.Unlock()
}

// unanswerable reports whether a's answer cannot come: the connection was
// lost since it was sent, or is down now. A publish sent in the moment the
// connection went misses connectionLost; one sent while it is down waits
// in the client's buffer, and its answer, if any, comes after the
// reconnect. Giving up on it is safe: the caller publishes again under the
// same message id.
func (p *publisher) unanswerable(a *pubAck) bool {
	return p.lost.Load() != a.lost || (p.nc != nil && !p.nc.IsConnected())
}

// lostCheck is how often a wait looks whether its answer can still come.
const lostCheck = 200 * time.Millisecond

// wait returns the outcome of a, giving up timeout after it was sent or
// when ctx ends.
func (p *publisher) wait(ctx context.Context, a *pubAck, timeout time.Duration) error {
	deadline := a.sent.Add(timeout)
	select {
	case <-a.done:
		return a.err
	default:
	}
	t := time.NewTimer(min(lostCheck, time.Until(deadline)))
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return a.err
		case <-ctx.Done():
			p.forget(a)
			return ctx.Err()
		case <-t.C:
			if !time.Now().Before(deadline) {
				p.forget(a)
				return fmt.Errorf("no acknowledgement within %s", timeout)
			}
			if p.unanswerable(a) {
				p.forget(a)
				return fmt.Errorf("connection lost before the acknowledgement: %w", nats.ErrDisconnected)
			}
			t.Reset(min(lostCheck, time.Until(deadline)))
		}
	}
}

// publishMsg is a publish with a de-duplication ID and, when stream is set,
// the stream that must store it.
func publishMsg(subject, msgID, stream string, data []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		m.Header[jetstream.MsgIDHeader] = []string{msgID}
	}
	if stream != "" {
		m.Header[jetstream.ExpectedStreamHeader] = []string{stream}
	}
	return m
}
