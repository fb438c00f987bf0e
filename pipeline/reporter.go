package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/encoding/json"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

// ReporterConfig is the `reporter:` section.
type ReporterConfig struct {
	// ReportTimeout is how long a report waits for missing analyzers before
	// it is completed with `timeout` results for them.
	ReportTimeout time.Duration `yaml:"report_timeout"`
	// MaxPending bounds the results held unacknowledged while their reports
	// are incomplete.
	MaxPending int `yaml:"max_pending"`
	// Thresholds raise the verdict by total score.
	Thresholds report.Thresholds `yaml:"thresholds"`
	// AckWait is how soon the results held by a reporter that stopped
	// answering go to another; a live reporter keeps them with in-progress
	// acks while their report waits.
	AckWait time.Duration `yaml:"ack_wait"`
}

// DefaultReporter returns the `reporter:` section as it is when the config
// says nothing.
func DefaultReporter() ReporterConfig {
	return ReporterConfig{
		ReportTimeout: 15 * time.Minute,
		MaxPending:    100_000,
		Thresholds:    report.DefaultThresholds,
		AckWait:       30 * time.Second,
	}
}

// Reporter joins the results of every expected analyzer into one report per
// message and stores it on REPORTS.
//
// It holds no state of its own that matters: a result is acknowledged only
// after the report containing it is stored, so the joins in progress are the
// unacknowledged messages of its consumer. A reporter killed mid-join gets
// them again on restart, and REPORTS' dedupe on the report id makes a second
// publish of the same report a no-op.
type Reporter struct {
	conn     *Conn
	cfg      ReporterConfig
	expected []string
	policy   report.Policy
	metrics  *Metrics
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string]*join
	// done remembers recently completed ids, so a late duplicate result
	// (a redelivery) is acknowledged instead of opening a new join.
	done *recentSet
	// settling counts the reports waiting for their acknowledgement.
	settling sync.WaitGroup
}

type join struct {
	env     report.Envelope
	results map[string]analyzers.Result
	msgs    []jetstream.Msg
	first   time.Time
	touched time.Time // last in-progress ack
	// storing is set while the report is on its way to REPORTS; results
	// arriving meanwhile (redeliveries) are acknowledged with the rest.
	storing bool
}

// NewReporter returns a reporter expecting a result from each of the named
// analyzers; security lists those whose failure makes a verdict unknown.
// m may be nil.
func NewReporter(conn *Conn, cfg ReporterConfig, expected []string, security map[string]bool, m *Metrics, log *slog.Logger) *Reporter {
	if m == nil {
		m = NewMetrics(nil)
	}
	exp := slices.Clone(expected)
	slices.Sort(exp)
	return &Reporter{
		conn:     conn,
		cfg:      cfg,
		expected: exp,
		policy:   report.Policy{Security: security, Thresholds: cfg.Thresholds},
		metrics:  m,
		log:      log,
		pending:  map[string]*join{},
		done:     newRecentSet(100_000),
	}
}

// Run consumes results until ctx is cancelled.
func (r *Reporter) Run(ctx context.Context) error {
	var cons jetstream.Consumer
	err := retryUnavailable(ctx, 2*time.Minute, r.log, func(ctx context.Context) (err error) {
		cons, err = r.conn.setupReporterConsumer(ctx, r.cfg)
		return err
	})
	if err != nil {
		return err
	}
	// Results are handled one at a time, in the order they come, by the
	// pull loop (see pullBatches for why not jetstream's Consume).
	pulling := make(chan struct{})
	go func() {
		defer close(pulling)
		pullBatches(ctx, cons, 1000, func(m jetstream.Msg) { r.handle(ctx, m) },
			func(err error) { r.log.Debug("reporter pull", "err", err) })
	}()
	defer r.settling.Wait()
	defer func() { <-pulling }()
	tick := time.NewTicker(min(r.cfg.ReportTimeout/4, r.ackWait()/3, 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.expire(ctx)
		}
	}
}

func (r *Reporter) handle(ctx context.Context, m jetstream.Msg) {
	// The envelope is the same in every result of a message; it is decoded
	// only for the result that opens a join.
	var rm struct {
		ID       string           `json:"id"`
		Analyzer string           `json:"analyzer"`
		Result   analyzers.Result `json:"result"`
		Envelope json.RawMessage  `json:"envelope"`
	}
	if err := json.Unmarshal(m.Data(), &rm); err != nil || rm.ID == "" {
		r.log.Error("reporter: unreadable result dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done.has(rm.ID) {
		_ = m.Ack()
		return
	}
	j := r.pending[rm.ID]
	if j == nil {
		var env report.Envelope
		if err := json.Unmarshal(rm.Envelope, &env); err != nil {
			r.log.Error("reporter: result with an unreadable envelope dropped", "id", rm.ID, "err", err)
			_ = m.Term()
			return
		}
		if r.reportedBefore(ctx, rm.ID, env) {
			// A result for mail reported long ago: an analyzer added later
			// replaying MAIL. REPORTS' dedupe window has passed, so the record
			// in mailsift-reported is what keeps it from a second report.
			r.done.add(rm.ID)
			_ = m.Ack()
			return
		}
		j = &join{env: env, results: map[string]analyzers.Result{}, first: time.Now(), touched: time.Now()}
		r.pending[rm.ID] = j
	}
	j.msgs = append(j.msgs, m)
	if j.storing {
		return
	}
	j.results[rm.Analyzer] = rm.Result
	if j.complete(r.expected) {
		r.finish(ctx, rm.ID, j)
	}
}

func (j *join) complete(expected []string) bool {
	for _, name := range expected {
		if _, ok := j.results[name]; !ok {
			return false
		}
	}
	return true
}

// expire completes joins that waited longer than ReportTimeout, with a
// timeout result for each analyzer that never answered.
func (r *Reporter) expire(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for id, j := range r.pending {
		if !j.storing && j.complete(r.expected) {
			r.finish(ctx, id, j) // its earlier store failed
			continue
		}
		// A report on its way to REPORTS keeps its results too: the
		// acknowledgement may take longer than their ack wait.
		if j.storing || now.Sub(j.first) < r.cfg.ReportTimeout {
			if now.Sub(j.touched) >= r.ackWait()/3 {
				for _, m := range j.msgs {
					_ = m.InProgress()
				}
				j.touched = now
			}
			continue
		}
		for _, name := range r.expected {
			if _, ok := j.results[name]; !ok {
				j.results[name] = analyzers.Failed(name, analyzers.StatusTimeout,
					fmt.Errorf("no result within report_timeout %s", r.cfg.ReportTimeout))
			}
		}
		r.finish(ctx, id, j)
	}
}

// finish sends the report to REPORTS without waiting; settle acknowledges
// its results once JetStream has it. Called with r.mu held, so the next
// results are read while the report is being stored.
func (r *Reporter) finish(ctx context.Context, id string, j *join) {
	results := make([]analyzers.Result, 0, len(j.results))
	for _, res := range j.results {
		results = append(results, res)
	}
	rep := report.Build(j.env, results, r.policy, time.Now())
	b, err := json.Marshal(rep)
	if err != nil {
		r.log.Error("reporter: encode report", "id", id, "err", err)
		return
	}
	a, err := r.conn.pub.send(publishMsg(SubjectReportPrefix+string(rep.Verdict), id, "", b))
	if err != nil {
		// Leave the join pending: the expiry tick tries again, and if this
		// process dies the results come back unacked.
		r.log.Warn("reporter: store report failed; will retry", "id", id, "err", err)
		return
	}
	j.storing = true
	r.settling.Add(1)
	go r.settle(ctx, id, j, a, rep)
}

// settle waits for the report's acknowledgement, then acknowledges the
// results it was made of. Until then they stay unacknowledged, which is what
// makes a report survive a reporter killed at any point.
func (r *Reporter) settle(ctx context.Context, id string, j *join, a *pubAck, rep report.Report) {
	defer r.settling.Done()
	err := r.conn.pub.wait(ctx, a, pubAckTimeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	j.storing = false
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("reporter: store report failed; will retry", "id", id, "err", err)
		}
		return
	}
	for _, m := range j.msgs {
		_ = m.Ack()
	}
	delete(r.pending, id)
	r.done.add(id)
	// Nobody waits for this one's acknowledgement: the mark only spares a
	// late duplicate's report, and REPORTS' dedupe covers most of those.
	if err := r.conn.NC.Publish("$KV."+BucketReported+"."+id, []byte(rep.Verdict)); err != nil {
		r.log.Warn("reporter: record report", "id", id, "err", err)
	}
	r.metrics.Reports.WithLabelValues(string(rep.Verdict)).Inc()
	if rep.ReceivedAt != nil {
		r.metrics.ReportSeconds.Observe(rep.ReportedAt.Sub(*rep.ReceivedAt).Seconds())
	}
	r.log.Debug("report stored", "id", id, "verdict", rep.Verdict, "score", rep.Score)
}

// reportedBefore says whether a report for the result's message exists
// beyond the reach of REPORTS' dedupe. Only old messages are looked up, so
// the common case costs nothing.
func (r *Reporter) reportedBefore(ctx context.Context, id string, env report.Envelope) bool {
	if env.ReceivedAt == nil || time.Since(*env.ReceivedAt) < r.conn.cfg.DuplicateWindow/2 {
		return false
	}
	kv, err := r.conn.JS.KeyValue(ctx, BucketReported)
	if err != nil {
		return false
	}
	_, err = kv.Get(ctx, id)
	return err == nil
}

func (r *Reporter) ackWait() time.Duration {
	if r.cfg.AckWait <= 0 {
		return 30 * time.Second
	}
	return r.cfg.AckWait
}

// recentSet remembers the last n ids added.
type recentSet struct {
	n    int
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentSet(n int) *recentSet {
	return &recentSet{n: n, ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (s *recentSet) has(id string) bool { _, ok := s.set[id]; return ok }

func (s *recentSet) add(id string) {
	if s.has(id) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % s.n
}
