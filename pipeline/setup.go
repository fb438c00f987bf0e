package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names on the wire (DESIGN.md, "Names on the wire"). Everything that creates
// or addresses a stream, consumer or bucket uses these, and nothing else.
const (
	StreamMail    = "MAIL"
	StreamResults = "RESULTS"
	StreamReports = "REPORTS"

	SubjectMailPrefix   = "mailsift.mail."
	SubjectResultPrefix = "mailsift.result."
	SubjectDeadPrefix   = "mailsift.dead."
	SubjectReportPrefix = "mailsift.report."

	BucketUIDL     = "mailsift-uidl"
	BucketAttempts = "mailsift-attempts" // deferral counts per message and analyzer
	BucketReported = "mailsift-reported" // ids of reported messages, for as long as MAIL keeps them
	BucketBlobs    = "mailsift-blobs"

	ConsumerReporter = "reporter"

	// Headers mailsift sets on MAIL messages. NATS headers are
	// case-sensitive, so these spellings are the contract.
	HeaderMsgID    = "Nats-Msg-Id"
	HeaderMailbox  = "Mailsift-Mailbox"
	HeaderUIDL     = "Mailsift-Uidl"
	HeaderBlob     = "Mailsift-Blob"
	HeaderSize     = "Mailsift-Size"
	HeaderReceived = "Mailsift-Received"
	HeaderSkipped  = "Mailsift-Skipped"
)

// ConsumerFor names the durable consumer of an analyzer on MAIL.
func ConsumerFor(analyzer string) string { return "analyzer-" + analyzer }

// validName is what can be one token of a NATS subject and part of a
// consumer name: mailbox and analyzer names must match it.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName rejects a mailbox or analyzer name that cannot appear on the wire.
func CheckName(kind, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%s name %q: use 1-64 letters, digits, '-' or '_' (it becomes part of NATS subjects)", kind, name)
	}
	return nil
}

// MessageID is the Nats-Msg-Id of a fetched message: hex sha256 of mailbox,
// a NUL and the UIDL, so the same mail fetched twice is the same message.
func MessageID(mailbox, uidl string) string {
	h := sha256.New()
	h.Write([]byte(mailbox))
	h.Write([]byte{0})
	h.Write([]byte(uidl))
	return hex.EncodeToString(h.Sum(nil))
}

// Setup creates or updates every stream, bucket and consumer the given
// analyzers need. It is idempotent: every process calls it at start, and a
// config change (limits, replicas, a new analyzer) is applied by restarting.
//
// On a cluster that is still forming, or losing a node, JetStream API calls
// time out for a while; Setup retries those for up to two minutes.
func (c *Conn) Setup(ctx context.Context, analyzerNames []string, wc WorkerConfig) error {
	for _, name := range analyzerNames {
		if err := CheckName("analyzer", name); err != nil {
			return err
		}
	}
	return retryUnavailable(ctx, 2*time.Minute, c.log, func(ctx context.Context) error {
		if _, err := c.setupStreams(ctx); err != nil {
			return err
		}
		for _, name := range analyzerNames {
			if err := c.setupAnalyzerConsumer(ctx, name, wc); err != nil {
				return err
			}
		}
		return nil
	})
}

// retryUnavailable runs fn until it succeeds, fails with an error that is
// not about JetStream being unreachable, or the time is up.
func retryUnavailable(ctx context.Context, limit time.Duration, log *slog.Logger, fn func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	delay := 250 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) || !unavailable(err) {
			return err
		}
		log.Warn("JetStream not ready; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func unavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

type streams struct {
	mail, results, reports jetstream.Stream
}

func (c *Conn) setupStreams(ctx context.Context) (*streams, error) {
	cfg := c.cfg
	replicas := max(cfg.Replicas, 1)
	dup := cfg.DuplicateWindow
	if dup < time.Hour {
		dup = time.Hour // DESIGN: the dedupe window is at least an hour
	}
	maxAge := cfg.MaxAge
	if maxAge > 0 && maxAge < dup {
		return nil, fmt.Errorf("nats: max_age %s is shorter than duplicate_window %s", maxAge, dup)
	}
	defs := []jetstream.StreamConfig{
		{
			Name:        StreamMail,
			Description: "raw mail fetched by mailsift ingest",
			Subjects:    []string{SubjectMailPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      maxAge,
			MaxBytes:    bytesOrUnlimited(int64(cfg.MaxBytes)),
			Duplicates:  dup,
			Replicas:    replicas,
			Storage:     jetstream.FileStorage,
			Compression: compression(cfg.Compression),
		},
		{
			Name:        StreamResults,
			Description: "analyzer results and dead letters",
			Subjects:    []string{SubjectResultPrefix + ">", SubjectDeadPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      maxAge,
			Duplicates:  dup,
			Replicas:    replicas,
			Storage:     jetstream.FileStorage,
		},
		{
			Name:        StreamReports,
			Description: "one report per message",
			Subjects:    []string{SubjectReportPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      maxAge,
			Duplicates:  dup,
			Replicas:    replicas,
			Storage:     jetstream.FileStorage,
		},
	}
	var out streams
	for i, sc := range defs {
		s, err := c.JS.CreateOrUpdateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("nats: stream %s: %w", sc.Name, err)
		}
		switch i {
		case 0:
			out.mail = s
		case 1:
			out.results = s
		case 2:
			out.reports = s
		}
	}
	if _, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketUIDL,
		Description: "ingest state: which UIDLs of which mailbox are published",
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("nats: kv %s: %w", BucketUIDL, err)
	}
	if _, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketAttempts,
		Description: "how often each analyzer deferred each message",
		TTL:         24 * time.Hour,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("nats: kv %s: %w", BucketAttempts, err)
	}
	if _, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketReported,
		Description: "messages already reported, so a replay does not report them twice",
		TTL:         maxAge,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("nats: kv %s: %w", BucketReported, err)
	}
	if _, err := c.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketBlobs,
		Description: "bodies of mail larger than the max payload",
		TTL:         maxAge,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
		Compression: true,
	}); err != nil {
		return nil, fmt.Errorf("nats: object store %s: %w", BucketBlobs, err)
	}
	return &out, nil
}

// compression maps nats.compression to JetStream's setting. It is off by
// default: on this project's benchmarks S2 took about 40% of ingest's CPU
// for typical mail, which matters more than disk on most deployments.
func compression(c string) jetstream.StoreCompression {
	if c == "s2" {
		return jetstream.S2Compression
	}
	return jetstream.NoCompression
}

func bytesOrUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

func (c *Conn) setupAnalyzerConsumer(ctx context.Context, name string, wc WorkerConfig) error {
	if err := CheckName("analyzer", name); err != nil {
		return err
	}
	_, err := c.JS.CreateOrUpdateConsumer(ctx, StreamMail, jetstream.ConsumerConfig{
		Durable:       ConsumerFor(name),
		Description:   "mailsift analyzer " + name,
		FilterSubject: SubjectMailPrefix + ">",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       wc.ackWait(),
		// Redelivery limits are enforced by the worker itself: it records
		// the final error result and the dead letter, and deferrals (a spent
		// quota) must not count as attempts, which the server cannot know.
		MaxDeliver:    -1,
		MaxAckPending: max(wc.Concurrency*8, 64),
		Replicas:      0, // inherit the stream's
	})
	if err != nil {
		return fmt.Errorf("nats: consumer %s on %s: %w", ConsumerFor(name), StreamMail, err)
	}
	return nil
}

func (c *Conn) setupReporterConsumer(ctx context.Context, rc ReporterConfig) (jetstream.Consumer, error) {
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, StreamResults, jetstream.ConsumerConfig{
		Durable:       ConsumerReporter,
		Description:   "mailsift reporter: joins results into reports",
		FilterSubject: SubjectResultPrefix + ">",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// Results stay unacked until their report is stored, so the pending
		// joins live in JetStream and survive a reporter crash; the reporter
		// keeps them with in-progress acks while a join waits.
		AckWait:       rc.AckWait,
		MaxAckPending: rc.MaxPending,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: consumer %s on %s: %w", ConsumerReporter, StreamResults, err)
	}
	return cons, nil
}
