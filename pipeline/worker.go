package pipeline

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

// WorkerConfig is the `worker:` section: how analyzers are run.
type WorkerConfig struct {
	// Concurrency is how many messages each analyzer works on at once in
	// this process.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one analysis; past it the attempt counts as failed.
	Timeout time.Duration `yaml:"timeout"`
	// MaxDeliveries is how many attempts a message gets per analyzer before
	// the worker records an error result and a dead letter.
	MaxDeliveries int `yaml:"max_deliveries"`
	// RetryDelay is the wait before the second attempt; it doubles with each
	// further attempt up to MaxRetryDelay.
	RetryDelay    time.Duration `yaml:"retry_delay"`
	MaxRetryDelay time.Duration `yaml:"max_retry_delay"`
	// DeferDelay is the wait after an analyzer says its quota is spent.
	// Deferrals do not use up attempts, but after MaxDefer from the
	// message's arrival the `deferred` result is recorded as final; keep
	// MaxDefer below reporter.report_timeout.
	DeferDelay time.Duration `yaml:"defer_delay"`
	MaxDefer   time.Duration `yaml:"max_defer"`
	// CacheSize is how many parsed messages the process keeps, so several
	// analyzers in one process parse each message once.
	CacheSize int `yaml:"cache_size"`
	// AckWait is how long a message stays with a worker that stopped
	// answering (crashed, partitioned) before JetStream gives it to another.
	// A worker still busy extends it with in-progress acks, so it does not
	// bound the analysis time.
	AckWait time.Duration `yaml:"ack_wait"`
}

// DefaultWorker returns the `worker:` section as it is when the config says
// nothing.
func DefaultWorker() WorkerConfig {
	return WorkerConfig{
		Concurrency:   4,
		Timeout:       30 * time.Second,
		MaxDeliveries: 5,
		RetryDelay:    2 * time.Second,
		MaxRetryDelay: 5 * time.Minute,
		DeferDelay:    time.Minute,
		MaxDefer:      10 * time.Minute,
		CacheSize:     256,
		AckWait:       30 * time.Second,
	}
}

// ackWait is short and independent of Timeout: a worker working on a message
// keeps it with in-progress acks, and a worker that died gives it up quickly.
func (wc WorkerConfig) ackWait() time.Duration {
	if wc.AckWait <= 0 {
		return 30 * time.Second
	}
	return wc.AckWait
}

func (wc WorkerConfig) retryDelay(attempt int) time.Duration {
	d := wc.RetryDelay
	for i := 1; i < attempt && d < wc.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, wc.MaxRetryDelay)
}

// ResultMessage is what a worker publishes on mailsift.result.<analyzer>.
// The envelope rides along so the reporter never reads the message itself.
type ResultMessage struct {
	ID         string           `json:"id"`
	Analyzer   string           `json:"analyzer"`
	Result     analyzers.Result `json:"result"`
	Envelope   report.Envelope  `json:"envelope"`
	Deliveries int              `json:"deliveries"`
}

// DeadLetter is what a worker publishes on mailsift.dead.<analyzer> when a
// message ran out of attempts.
type DeadLetter struct {
	ID         string    `json:"id"`
	Mailbox    string    `json:"mailbox"`
	Analyzer   string    `json:"analyzer"`
	Error      string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	StreamSeq  uint64    `json:"stream_seq"`
	At         time.Time `json:"at"`
}

// Worker runs analyzers over MAIL, each through its own durable consumer.
type Worker struct {
	conn      *Conn
	cfg       WorkerConfig
	analyzers []analyzers.Analyzer
	cache     *parseCache
	metrics   *Metrics
	log       *slog.Logger
}

// analyzerMetrics are one analyzer's series, looked up once: finding a
// series by its labels on every delivery is a measurable share of a cheap
// analysis.
type analyzerMetrics struct {
	deliveries, redeliveries prometheus.Counter
	seconds                  prometheus.Observer
}

func (w *Worker) metricsFor(name string) analyzerMetrics {
	return analyzerMetrics{
		deliveries:   w.metrics.Deliveries.WithLabelValues(name),
		redeliveries: w.metrics.Redeliveries.WithLabelValues(name),
		seconds:      w.metrics.AnalyzerSeconds.WithLabelValues(name),
	}
}

// NewWorker returns a worker for the given analyzers. Setup must have
// created their consumers. m may be nil.
func NewWorker(conn *Conn, cfg WorkerConfig, as []analyzers.Analyzer, m *Metrics, log *slog.Logger) *Worker {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Worker{
		conn:      conn,
		cfg:       cfg,
		analyzers: as,
		cache:     newParseCache(max(cfg.CacheSize, 16), len(as)),
		metrics:   m,
		log:       log,
	}
}

// Run consumes until ctx is cancelled, then stops pulling and waits for the
// analyses in flight to finish and be acknowledged.
func (w *Worker) Run(ctx context.Context) error {
	var wg, pulls sync.WaitGroup
	for _, a := range w.analyzers {
		cons, err := w.conn.JS.Consumer(ctx, StreamMail, ConsumerFor(a.Name()))
		if err != nil {
			return fmt.Errorf("worker %s: consumer %s: %w", a.Name(), ConsumerFor(a.Name()), err)
		}
		sem := make(chan struct{}, max(w.cfg.Concurrency, 1))
		a, am := a, w.metricsFor(a.Name())
		pulls.Add(1)
		// A small batch: with a large prefetch, messages wait in the
		// client's buffer past their ack wait and come back twice.
		go func() {
			defer pulls.Done()
			pullBatches(ctx, cons, max(w.cfg.Concurrency*2, 4), func(m jetstream.Msg) {
				if ctx.Err() != nil {
					// The rest of a batch that came in as the worker
					// stops: back to the next worker, now.
					_ = m.Nak()
					return
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					w.handle(ctx, a, am, m)
				}()
			}, func(err error) { w.log.Debug("pull", "analyzer", a.Name(), "err", err) })
		}()
	}
	pulls.Wait()
	wg.Wait()
	return nil
}

func (w *Worker) handle(ctx context.Context, a analyzers.Analyzer, am analyzerMetrics, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		w.log.Error("message without metadata", "analyzer", a.Name(), "err", err)
		return
	}
	h := m.Headers()
	id := h.Get(HeaderMsgID)
	// Built only when there is something to say: most deliveries log
	// nothing, and a logger with attributes costs more than some analyses.
	log := sync.OnceValue(func() *slog.Logger {
		return w.log.With("id", id, "analyzer", a.Name(), "delivery", md.NumDelivered)
	})
	deliveries := int(md.NumDelivered)
	am.deliveries.Inc()
	if deliveries > 1 {
		am.redeliveries.Inc()
	}

	// Keep the message while the analysis runs, however long that takes.
	stopProgress := keepAlive(m, w.cfg.ackWait()/3)
	defer stopProgress()

	// A message whose every attempt ended with its worker gone (a crash
	// inside the analyzer, an OOM kill) would come back forever; past the
	// limit it is recorded as failed without running the analyzer again.
	if deliveries > w.cfg.MaxDeliveries && deliveries-1-w.deferrals(ctx, id, a.Name()) >= w.cfg.MaxDeliveries {
		env := report.Envelope{ID: id, Mailbox: h.Get(HeaderMailbox), UIDL: h.Get(HeaderUIDL)}
		w.fail(ctx, log(), a, m, md, id, env, analyzers.StatusError,
			fmt.Errorf("no result after %d attempts: the worker handling it stopped each time", deliveries-1))
		return
	}

	// The message is parsed once for all analyzers of this process; work
	// that cannot start (a body missing from the object store) is retried.
	p, err := w.cache.get(id, func() (*parsed, error) { return w.parse(ctx, m, id, h, md) })
	if err != nil {
		w.retryOrFail(ctx, log(), a, m, md, id, report.Envelope{ID: id, Mailbox: h.Get(HeaderMailbox)},
			analyzers.StatusError, err)
		return
	}

	var res analyzers.Result
	if why := h.Get(HeaderSkipped); why != "" {
		// Only the header was fetched; the report says so for every analyzer.
		res = analyzers.Failed(a.Name(), analyzers.StatusSkipped, errors.New(why))
	} else if p.err != nil {
		// Not a message at all: no attempt will do better.
		res = analyzers.Failed(a.Name(), analyzers.StatusError, p.err)
	} else {
		actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		start := time.Now()
		res, err = analyzers.Run(actx, a, p.msg)
		am.seconds.Observe(time.Since(start).Seconds())
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			// Shutting down: leave the message for the next worker, now.
			_ = m.NakWithDelay(0)
			return
		}
		switch {
		case err != nil && timedOut:
			w.retryOrFail(ctx, log(), a, m, md, id, p.env, analyzers.StatusTimeout,
				fmt.Errorf("no answer within %s: %w", w.cfg.Timeout, err))
			return
		case err != nil:
			w.retryOrFail(ctx, log(), a, m, md, id, p.env, analyzers.StatusError, err)
			return
		case res.Status == analyzers.StatusDeferred && time.Since(md.Timestamp) < w.cfg.MaxDefer:
			// A spent quota is not the message's fault: it waits without
			// using up an attempt, until max_defer after it arrived.
			w.addDeferral(ctx, log(), id, a.Name())
			log().Info("analysis deferred", "reason", res.Error, "retry_in", w.cfg.DeferDelay)
			_ = m.NakWithDelay(w.cfg.DeferDelay)
			return
		}
	}
	if err := w.publishResult(a.Name(), id, p.envJSON, res, deliveries); err != nil {
		log().Warn("publish result failed; message will be retried", "err", err)
		_ = m.NakWithDelay(w.cfg.retryDelay(deliveries))
		return
	}
	w.cache.done(id)
	_ = m.Ack()
}

// retryOrFail puts a failed attempt back with a growing delay, or, on the
// last attempt, records the failure as the analyzer's result and as a dead
// letter, so the report still completes and the failure is visible.
func (w *Worker) retryOrFail(ctx context.Context, log *slog.Logger, a analyzers.Analyzer, m jetstream.Msg,
	md *jetstream.MsgMetadata, id string, env report.Envelope, st analyzers.Status, cause error) {
	n := int(md.NumDelivered)
	if n >= w.cfg.MaxDeliveries {
		n -= w.deferrals(ctx, id, a.Name()) // deferred attempts are not failures
	}
	if n < w.cfg.MaxDeliveries {
		d := w.cfg.retryDelay(n)
		log.Warn("analysis failed; will retry", "err", cause, "retry_in", d)
		_ = m.NakWithDelay(d)
		return
	}
	log.Error("analysis failed on last attempt; recording error result and dead letter", "err", cause)
	w.fail(ctx, log, a, m, md, id, env, st, cause)
}

// fail records a message's failure for an analyzer: a dead letter, then the
// failed result, then the ack.
func (w *Worker) fail(ctx context.Context, log *slog.Logger, a analyzers.Analyzer, m jetstream.Msg,
	md *jetstream.MsgMetadata, id string, env report.Envelope, st analyzers.Status, cause error) {
	n := int(md.NumDelivered)
	dl := DeadLetter{ID: id, Mailbox: env.Mailbox, Analyzer: a.Name(), Error: cause.Error(), Deliveries: n,
		StreamSeq: md.Sequence.Stream, At: time.Now().UTC()}
	if err := w.publishJSON(SubjectDeadPrefix+a.Name(), id+"."+a.Name()+".dead", dl); err != nil {
		log.Warn("publish dead letter failed; message will be retried", "err", err)
		_ = m.NakWithDelay(w.cfg.retryDelay(n))
		return
	}
	w.metrics.DeadLetters.WithLabelValues(a.Name()).Inc()
	res := analyzers.Failed(a.Name(), st, cause)
	envJSON, err := json.Marshal(env)
	if err != nil {
		log.Error("encode envelope", "err", err)
		return
	}
	if err := w.publishResult(a.Name(), id, envJSON, res, n); err != nil {
		log.Warn("publish result failed; message will be retried", "err", err)
		_ = m.NakWithDelay(w.cfg.retryDelay(n))
		return
	}
	w.cache.done(id)
	_ = m.Ack()
}

// publishResult stores a ResultMessage. env is the envelope already in
// JSON: it is the same for every analyzer of a message, so it is encoded
// once per message, not once per result.
func (w *Worker) publishResult(analyzer, id string, env []byte, res analyzers.Result, deliveries int) error {
	res.Analyzer = analyzer
	b, err := encodeResultMessage(id, analyzer, res, env, deliveries)
	if err != nil {
		return err
	}
	if err := w.publish(SubjectResultPrefix+analyzer, id+"."+analyzer, b); err != nil {
		return err
	}
	w.metrics.Results.WithLabelValues(analyzer, string(res.Status)).Inc()
	return nil
}

// encodeResultMessage writes what json.Marshal(ResultMessage{...}) would,
// splicing in the envelope's JSON as it is: an encoder checks a
// json.RawMessage field byte by byte, which would cost what it saves.
func encodeResultMessage(id, analyzer string, res analyzers.Result, env []byte, deliveries int) ([]byte, error) {
	rb, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	ib, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	ab, err := json.Marshal(analyzer)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(rb)+len(env)+len(ib)+len(ab)+64)
	b = append(b, `{"id":`...)
	b = append(b, ib...)
	b = append(b, `,"analyzer":`...)
	b = append(b, ab...)
	b = append(b, `,"result":`...)
	b = append(b, rb...)
	b = append(b, `,"envelope":`...)
	b = append(b, env...)
	b = append(b, `,"deliveries":`...)
	b = strconv.AppendInt(b, int64(deliveries), 10)
	return append(b, '}'), nil
}

func (w *Worker) publishJSON(subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.publish(subject, msgID, b)
}

// publish stores b and waits for JetStream's acknowledgement. A shutdown
// does not cut the wait short: the message is acknowledged only after its
// result is stored.
func (w *Worker) publish(subject, msgID string, b []byte) error {
	a, err := w.conn.pub.send(publishMsg(subject, msgID, "", b))
	if err != nil {
		return err
	}
	if err := w.conn.pub.wait(context.Background(), a, 10*time.Second); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// deferrals reads how many times an analyzer deferred a message; the count
// lives in JetStream so every worker process sees it.
func (w *Worker) deferrals(ctx context.Context, id, analyzer string) int {
	kv, err := w.conn.JS.KeyValue(ctx, BucketAttempts)
	if err != nil {
		return 0
	}
	e, err := kv.Get(ctx, id+"."+analyzer)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(string(e.Value()))
	return n
}

// addDeferral counts one deferral, with compare-and-set so two workers
// counting at once both count.
func (w *Worker) addDeferral(ctx context.Context, log *slog.Logger, id, analyzer string) {
	kv, err := w.conn.JS.KeyValue(ctx, BucketAttempts)
	if err != nil {
		log.Warn("count deferral", "err", err)
		return
	}
	key := id + "." + analyzer
	for range 5 {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err = kv.Create(ctx, key, []byte("1")); err == nil {
				return
			}
		case err == nil:
			n, _ := strconv.Atoi(string(e.Value()))
			if _, err = kv.Update(ctx, key, []byte(strconv.Itoa(n+1)), e.Revision()); err == nil {
				return
			}
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			log.Warn("count deferral", "err", err)
			return
		}
	}
}

// parsed is one message as the analyzers of a process share it. err is set
// when the bytes are not a message at all; that is an answer, not a failure
// to retry.
//
// The envelope is kept encoded too: every analyzer's result carries it, and
// encoding it once per message instead of once per result matters.
type parsed struct {
	msg     *analyzers.Message
	env     report.Envelope
	envJSON []byte
	err     error
}

// newParsed encodes env for p.
func newParsed(msg *analyzers.Message, env report.Envelope, perr error) (*parsed, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return &parsed{msg: msg, env: env, envJSON: b, err: perr}, nil
}

func (w *Worker) parse(ctx context.Context, m jetstream.Msg, id string, h nats.Header, md *jetstream.MsgMetadata) (*parsed, error) {
	raw, err := w.conn.Body(ctx, h, m.Data())
	if err != nil {
		return nil, err
	}
	received := md.Timestamp.UTC()
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceived)); err == nil {
		received = t
	}
	msg, perr := analyzers.Parse(raw, analyzers.ParseOptions{})
	if perr != nil {
		env := report.Envelope{ID: id, Mailbox: h.Get(HeaderMailbox), UIDL: h.Get(HeaderUIDL), Size: int64(len(raw)),
			ReceivedAt: &received, Artifacts: report.Artifacts{URLs: []string{}, Attachments: []report.Attachment{}}}
		return newParsed(nil, env, fmt.Errorf("parse: %w", perr))
	}
	msg.ID, msg.Mailbox, msg.UIDL = id, h.Get(HeaderMailbox), h.Get(HeaderUIDL)
	env := report.EnvelopeOf(msg)
	env.ReceivedAt = &received
	if n, err := strconv.ParseInt(h.Get(HeaderSize), 10, 64); err == nil && n > env.Size {
		env.Size = n
	}
	return newParsed(msg, env, nil)
}

// keepAlive tells JetStream every interval that the message is still being
// worked on, until the returned stop is called. A timer, not a goroutine:
// nearly every analysis ends long before the first tick, and a goroutine
// with a ticker per delivery costs more than many analyses do.
func keepAlive(m jetstream.Msg, every time.Duration) (stop func()) {
	var mu sync.Mutex
	var t *time.Timer
	stopped := false
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = m.InProgress()
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// parseCache shares one parse of a message between the analyzers of a
// process. An entry leaves when every analyzer is done with it, or when the
// cache is full and it is the least recently used.
type parseCache struct {
	mu    sync.Mutex
	max   int
	users int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	id   string
	once sync.Once
	p    *parsed
	err  error
	done int
}

func newParseCache(max, users int) *parseCache {
	return &parseCache{max: max, users: users, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *parseCache) get(id string, parse func() (*parsed, error)) (*parsed, error) {
	c.mu.Lock()
	el, ok := c.items[id]
	if ok {
		c.ll.MoveToFront(el)
	} else {
		el = c.ll.PushFront(&cacheEntry{id: id})
		c.items[id] = el
		for c.ll.Len() > c.max {
			old := c.ll.Back()
			c.ll.Remove(old)
			delete(c.items, old.Value.(*cacheEntry).id)
		}
	}
	e := el.Value.(*cacheEntry)
	c.mu.Unlock()
	e.once.Do(func() { e.p, e.err = parse() })
	if e.err != nil {
		c.forget(id)
	}
	return e.p, e.err
}

func (c *parseCache) done(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return
	}
	e := el.Value.(*cacheEntry)
	e.done++
	if e.done >= c.users {
		c.ll.Remove(el)
		delete(c.items, id)
	}
}

func (c *parseCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.ll.Remove(el)
		delete(c.items, id)
	}
}
