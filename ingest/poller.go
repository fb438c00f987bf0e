package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/encoding/json"

	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/pipeline"
)

// Publisher is what the poller needs of the pipeline: publishes whose
// acknowledgement can be awaited, for the mail and for the ingest state.
type Publisher interface {
	PublishAsync(ctx context.Context, m pipeline.Mail) (*pipeline.Pending, error)
	PutStateAsync(key string, value []byte) (*pipeline.Pending, error)
}

// Poller fetches mail from a set of mailboxes.
type Poller struct {
	pub     Publisher
	state   jetstream.KeyValue
	boxes   []Mailbox
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
}

// NewPoller returns a poller over the given mailboxes, which must have been
// defaulted and validated. state is the mailsift-uidl bucket; m may be nil.
func NewPoller(pub Publisher, state jetstream.KeyValue, boxes []Mailbox, m *Metrics, log *slog.Logger) *Poller {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Poller{pub: pub, state: state, boxes: boxes, metrics: m, log: log, now: time.Now}
}

// Stats counts what one poll of one mailbox did.
type Stats struct {
	Mailbox    string
	Listed     int
	Fetched    int
	Bytes      int64
	Published  []string // ids newly on MAIL
	Duplicates int      // fetched again but already on MAIL
	Deleted    int
	Skipped    int // left on the server (too large)
	Duration   time.Duration
}

// state is what the mailsift-uidl bucket holds per fetched message.
type state struct {
	ID        string    `json:"id"`
	UIDL      string    `json:"uidl"`
	Seq       uint64    `json:"seq,omitempty"`
	Size      int64     `json:"size"`
	FetchedAt time.Time `json:"fetched_at"`
	Skipped   string    `json:"skipped,omitempty"`
}

// StateKey is the mailsift-uidl key of a UIDL: UIDLs may hold characters
// that KV keys cannot, so the key carries their digest.
func StateKey(mailbox, uidl string) string {
	sum := sha256.Sum256([]byte(uidl))
	return mailbox + "." + hex.EncodeToString(sum[:])
}

// Once polls every mailbox once, concurrently, and returns what each did.
// The error joins the failures of all mailboxes that failed.
func (p *Poller) Once(ctx context.Context) ([]Stats, error) {
	out := make([]Stats, len(p.boxes))
	errs := make([]error, len(p.boxes))
	var wg sync.WaitGroup
	for i := range p.boxes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out[i], errs[i] = p.Poll(ctx, &p.boxes[i])
		}(i)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Run polls every mailbox on its own schedule until ctx is cancelled. A
// mailbox that fails is retried with exponential backoff, longer after an
// authentication failure, and logged once per outage, not once per retry.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range p.boxes {
		wg.Add(1)
		go func(mb *Mailbox) {
			defer wg.Done()
			p.loop(ctx, mb)
		}(&p.boxes[i])
	}
	wg.Wait()
	return nil
}

func (p *Poller) loop(ctx context.Context, mb *Mailbox) {
	log := p.log.With("mailbox", mb.Name)
	failures := 0
	// Start mailboxes spread over the first interval rather than all at once.
	wait := time.Duration(rand.Int64N(int64(mb.PollInterval)/10 + 1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		st, err := p.Poll(ctx, mb)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = backoff(mb.PollInterval, failures, errors.Is(err, pop3.ErrAuth))
			if failures == 1 {
				log.Error("poll failed; retrying with backoff until it recovers", "err", err, "retry_in", wait)
			} else {
				log.Debug("poll failed again", "err", err, "failures", failures, "retry_in", wait)
			}
			continue
		}
		if failures > 0 {
			log.Info("poll recovered", "after_failures", failures)
			failures = 0
		}
		log.Info("poll done", "listed", st.Listed, "fetched", st.Fetched, "published", len(st.Published),
			"duplicates", st.Duplicates, "deleted", st.Deleted, "bytes", st.Bytes, "took", st.Duration.Round(time.Millisecond))
		wait = jitter(mb.PollInterval)
	}
}

// backoff doubles from the poll interval up to an hour; an [AUTH] failure
// starts at ten minutes, since retrying a wrong password quickly can lock
// the account.
func backoff(interval time.Duration, failures int, auth bool) time.Duration {
	base := min(interval, time.Minute)
	if auth {
		base = 10 * time.Minute
	}
	d := base
	for i := 1; i < failures && d < time.Hour; i++ {
		d *= 2
	}
	return jitter(min(d, time.Hour))
}

// jitter spreads d by ±10%, so many mailboxes on one server drift apart.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}

// Poll runs one POP3 session on mb: list, fetch what is new, publish each
// message and record it, delete what the policy says may go, and QUIT, which
// is when the server commits the deletions.
func (p *Poller) Poll(ctx context.Context, mb *Mailbox) (st Stats, err error) {
	start := time.Now()
	st.Mailbox = mb.Name
	defer func() {
		st.Duration = time.Since(start)
		p.metrics.observe(st, err)
	}()
	policy, err := mb.Policy()
	if err != nil {
		return st, err
	}
	creds, err := mb.credentials()
	if err != nil {
		return st, err
	}
	c, err := pop3.Dial(ctx, mb.pop3Config(p.log))
	if err != nil {
		return st, err
	}
	// Without a successful QUIT nothing is deleted; Close drops the line.
	defer c.Close()
	if err := c.Auth(ctx, creds); err != nil {
		return st, err
	}
	list, err := c.Messages(ctx)
	if err != nil {
		return st, err
	}
	st.Listed = len(list)

	known, err := p.known(ctx, mb.Name)
	if err != nil {
		return st, err
	}
	var fetch []int
	byID := map[int]pop3.MessageInfo{}
	var dele []int
	onServer := map[string]bool{}
	for _, mi := range list {
		if mi.UID == "" {
			if err := p.headerUIDs(ctx, c, mb, list); err != nil {
				return st, err
			}
			break
		}
	}
	var skipErr error
	for _, mi := range list {
		key := StateKey(mb.Name, mi.UID)
		onServer[key] = true
		if s, ok := known[key]; ok {
			if s.Skipped == "" && deletable(policy, s, p.now()) {
				dele = append(dele, mi.ID)
			}
			continue
		}
		if mi.Size > int64(mb.MaxMessageSize) {
			if err := p.skip(ctx, c, mb, mi, &st); err != nil {
				skipErr = errors.Join(skipErr, fmt.Errorf("message %d over max_message_size: %w", mi.ID, err))
			}
			continue
		}
		fetch = append(fetch, mi.ID)
		byID[mi.ID] = mi
	}

	var fetchErr error
	if len(fetch) > 0 {
		// Publishes are kept in flight while the fetch goes on; a settler
		// awaits each acknowledgement in turn, then writes the message's
		// state, and only once that is acknowledged too marks the message
		// for deletion.
		s := newSettler(ctx, p, mb, &st, policy)
		fetchErr = c.Fetch(ctx, fetch, func(mi pop3.MessageInfo, body io.Reader) error {
			if err := s.failed(); err != nil {
				return err
			}
			if mi.UID == "" {
				mi.UID = byID[mi.ID].UID
			}
			id := pipeline.MessageID(mb.Name, mi.UID)
			pend, err := p.pub.PublishAsync(ctx, pipeline.Mail{Mailbox: mb.Name, UIDL: mi.UID, ID: id, Size: mi.Size, Body: body, Buf: s.buffer()})
			if err != nil {
				return fmt.Errorf("%w: %w", errPublish, err)
			}
			s.add(inflight{mi: mi, id: id, pend: pend})
			return nil
		})
		var settled []int
		settled, err = s.close()
		dele = append(dele, settled...)
		fetchErr = errors.Join(fetchErr, err)
	}
	if fetchErr == nil {
		// Mail gone from the server (deleted by us at an earlier QUIT, or by
		// someone else) needs no state any more. Only UIDLs absent from the
		// listing go, so nothing still on the server can be fetched twice.
		for key := range known {
			if !onServer[key] {
				if err := p.state.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
					p.log.Warn("prune ingest state", "mailbox", mb.Name, "key", key, "err", err)
				}
			}
		}
	}
	// Even after a failed fetch, the messages already acknowledged may go:
	// they are safely on MAIL. If the line is gone, DELE and QUIT fail and
	// the server keeps everything, which the next poll sorts out.
	if len(dele) > 0 && !errors.Is(fetchErr, pop3.ErrClosed) {
		if err := c.Dele(ctx, dele...); err != nil {
			return st, errors.Join(fetchErr, err)
		}
	}
	if err := c.Quit(ctx); err != nil {
		return st, errors.Join(fetchErr, err)
	}
	st.Deleted = len(dele)
	return st, errors.Join(skipErr, fetchErr)
}

// Limits on fetched mail whose acknowledgement is outstanding: the fetch
// waits when either is reached.
const (
	maxInflight      = 512
	maxInflightBytes = 32 << 20
)

type inflight struct {
	mi   pop3.MessageInfo
	id   string
	pend *pipeline.Pending
}

type recorded struct {
	mi   pop3.MessageInfo
	pend *pipeline.Pending
}

// settler follows the publishes of one poll to their end, concurrently
// with the fetch: one goroutine awaits each publish's acknowledgement and
// writes the message's state, a second awaits the state's acknowledgement
// and marks the message deletable. A message whose publish or state write
// failed is neither; the next poll fetches it again.
type settler struct {
	p      *Poller
	mb     *Mailbox
	st     *Stats // written by the first goroutine only, read after close
	policy DeletePolicy

	published chan inflight
	states    chan recorded
	done      chan struct{}

	mu    sync.Mutex
	room  *sync.Cond
	bytes int64 // of the messages in published
	err   error // the first failure
	fails int
	total int
	dele  []int
	free  [][]byte // bodies JetStream has, to read the next ones into
}

// buffer returns a buffer for a body, if one was freed.
func (s *settler) buffer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return nil
	}
	b := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return b
}

func newSettler(ctx context.Context, p *Poller, mb *Mailbox, st *Stats, policy DeletePolicy) *settler {
	s := &settler{p: p, mb: mb, st: st, policy: policy,
		published: make(chan inflight, maxInflight), states: make(chan recorded, maxInflight), done: make(chan struct{})}
	s.room = sync.NewCond(&s.mu)
	go s.acks(ctx)
	go s.stateAcks(ctx)
	return s
}

// add hands over a publish in flight, first waiting while too many bytes
// are: the settler makes room as acknowledgements come in.
func (s *settler) add(it inflight) {
	s.mu.Lock()
	for s.bytes > 0 && s.bytes+it.mi.Size > maxInflightBytes {
		s.room.Wait()
	}
	s.bytes += it.mi.Size
	s.total++
	s.mu.Unlock()
	s.published <- it
}

// failed returns the first failure so far, so the fetch can stop early.
func (s *settler) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *settler) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("%w: %w", errPublish, err)
	}
	s.fails++
}

func (s *settler) acks(ctx context.Context) {
	defer close(s.states)
	for it := range s.published {
		pub, err := it.pend.Wait(ctx)
		s.mu.Lock()
		s.bytes -= it.mi.Size
		s.room.Signal()
		// Reusing bodies spares the garbage collector most of the
		// mailbox's size; only acknowledged ones, which nothing holds.
		if b := it.pend.Buf(); err == nil && b != nil && len(s.free) < maxInflight {
			s.free = append(s.free, b)
		}
		s.mu.Unlock()
		if err != nil {
			s.fail(err)
			continue
		}
		s.st.Fetched++
		s.st.Bytes += pub.Size
		if pub.Duplicate {
			s.st.Duplicates++
		} else {
			s.st.Published = append(s.st.Published, it.id)
		}
		// Encoded on the fetch's path for every message: the standard
		// library's encoder was a quarter of the poller's own CPU here.
		val, err := json.Marshal(state{ID: it.id, UIDL: it.mi.UID, Seq: pub.Sequence, Size: pub.Size, FetchedAt: s.p.now().UTC()})
		if err != nil {
			s.fail(err)
			continue
		}
		pend, err := s.p.pub.PutStateAsync(StateKey(s.mb.Name, it.mi.UID), val)
		if err != nil {
			s.fail(err)
			continue
		}
		s.states <- recorded{it.mi, pend}
	}
}

func (s *settler) stateAcks(ctx context.Context) {
	defer close(s.done)
	for r := range s.states {
		if _, err := r.pend.Wait(ctx); err != nil {
			s.fail(err)
			continue
		}
		if s.policy.AfterPublish {
			s.mu.Lock()
			s.dele = append(s.dele, r.mi.ID)
			s.mu.Unlock()
		}
	}
}

// close waits for every publish handed over to be settled and returns the
// messages that may be deleted.
func (s *settler) close() ([]int, error) {
	close(s.published)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.dele, fmt.Errorf("%d of %d messages kept on the server: %w", s.fails, s.total, s.err)
	}
	return s.dele, nil
}

func deletable(p DeletePolicy, s state, now time.Time) bool {
	switch {
	case p.AfterPublish:
		return true
	case p.After > 0:
		return now.Sub(s.FetchedAt) >= p.After
	}
	return false
}

// known reads the ingest state of a mailbox in one pass: a watcher sends
// the current value of every key and then says it is done, which costs one
// consumer rather than a request per key.
func (p *Poller) known(ctx context.Context, mailbox string) (map[string]state, error) {
	ctx, cancel := context.WithTimeout(ctx, stateReadTimeout)
	defer cancel()
	w, err := p.state.Watch(ctx, mailbox+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("ingest state %s: %w", mailbox, err)
	}
	defer w.Stop()
	out := map[string]state{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("ingest state %s: watcher closed", mailbox)
			}
			if e == nil {
				return out, nil // caught up
			}
			var s state
			if err := json.Unmarshal(e.Value(), &s); err != nil {
				return nil, fmt.Errorf("ingest state %s: %s: %w", mailbox, e.Key(), err)
			}
			out[e.Key()] = s
		case <-ctx.Done():
			return nil, fmt.Errorf("ingest state %s: read %d entries: %w", mailbox, len(out), ctx.Err())
		}
	}
}

// stateReadTimeout bounds reading a mailbox's ingest state.
const stateReadTimeout = time.Minute

func (p *Poller) record(ctx context.Context, key string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := p.state.Put(ctx, key, b); err != nil {
		return fmt.Errorf("ingest state: put %s: %w", key, err)
	}
	return nil
}

// skip publishes the header of a message too large to fetch, marked as
// skipped, so it gets a report saying why it was not analyzed instead of
// vanishing; the message itself stays on the server. Its state is recorded
// so the next polls leave it alone.
func (p *Poller) skip(ctx context.Context, c *pop3.Client, mb *Mailbox, mi pop3.MessageInfo, st *Stats) error {
	why := fmt.Sprintf("not fetched: size %d bytes is over max_message_size %s; left on the server", mi.Size, mb.MaxMessageSize)
	p.log.Warn("message left on server", "mailbox", mb.Name, "uidl", mi.UID, "size", mi.Size, "max", mb.MaxMessageSize)
	id := pipeline.MessageID(mb.Name, mi.UID)
	head, err := c.Top(ctx, mi.ID, 0)
	if err != nil {
		return err
	}
	// A header is small, but a hostile one need not be: cap what is kept.
	pend, err := p.pub.PublishAsync(ctx, pipeline.Mail{Mailbox: mb.Name, UIDL: mi.UID, ID: id, Size: mi.Size,
		Body: io.LimitReader(head, 256<<10), Skipped: why})
	head.Close()
	if err != nil {
		return err
	}
	pub, err := pend.Wait(ctx)
	if err != nil {
		return err
	}
	if !pub.Duplicate {
		st.Published = append(st.Published, id)
	}
	st.Skipped++
	return p.record(ctx, StateKey(mb.Name, mi.UID), state{ID: id, UIDL: mi.UID, Seq: pub.Sequence, Size: mi.Size, FetchedAt: p.now().UTC(), Skipped: why})
}

// headerUIDs gives messages of a server without UIDL an id from the digest
// of their header (TOP n 0). Two identical headers would collide, which for
// real mail (Received lines, Message-ID, Date) does not happen in practice;
// it is the fallback fetchmail and getmail use too.
func (p *Poller) headerUIDs(ctx context.Context, c *pop3.Client, mb *Mailbox, list []pop3.MessageInfo) error {
	p.log.Warn("server does not support UIDL; identifying messages by a digest of their header", "mailbox", mb.Name)
	for i := range list {
		if list[i].UID != "" {
			continue
		}
		r, err := c.Top(ctx, list[i].ID, 0)
		if err != nil {
			return fmt.Errorf("pop3 %s: no UIDL, and TOP %d for a header digest failed: %w", mb.Addr(), list[i].ID, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return err
		}
		list[i].UID = "hdr-" + hex.EncodeToString(h.Sum(nil))[:32]
	}
	return nil
}

// Describe is one line naming a mailbox for logs and errors, without secrets.
func (m *Mailbox) Describe() string {
	return fmt.Sprintf("%s (%s@%s, tls %s)", m.Name, m.Username, m.Addr(), strings.ToLower(m.TLS))
}
