package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/encoding/json"

	"github.com/mailsift/mailsift/report"
)

// FollowOptions choose which stored reports Follow starts from.
type FollowOptions struct {
	// Since replays reports stored at or after this time; zero means only
	// reports stored from now on, unless All is set.
	Since time.Time
	All   bool
	// Verdict, when set, follows only reports with that verdict.
	Verdict string
}

// Follow calls fn for each report on REPORTS, in order, until ctx ends or fn
// returns an error (which Follow returns, except ErrStop). It keeps no state
// on the server: an ordered consumer, gone when Follow returns.
func (c *Conn) Follow(ctx context.Context, o FollowOptions, fn func(r *report.Report, raw []byte) error) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case o.All:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case !o.Since.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := o.Since
		cfg.OptStartTime = &t
	}
	if o.Verdict != "" {
		cfg.FilterSubjects = []string{SubjectReportPrefix + o.Verdict}
	}
	cons, err := c.JS.OrderedConsumer(ctx, StreamReports, cfg)
	if err != nil {
		return fmt.Errorf("follow %s: %w", StreamReports, err)
	}
	// Pulled as workers pull (pullBatches), not with jetstream's Messages,
	// which shares Consume's lost refill.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped error
	pullBatches(pctx, cons, 256, func(m jetstream.Msg) {
		if stopped != nil {
			return
		}
		var r report.Report
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			return
		}
		if err := fn(&r, m.Data()); err != nil {
			stopped = err
			cancel()
		}
	}, func(error) {})
	switch {
	case errors.Is(stopped, ErrStop):
		return nil
	case stopped != nil:
		return stopped
	}
	return ctx.Err()
}

// ErrStop ends Follow without an error.
var ErrStop = errors.New("stop following")
