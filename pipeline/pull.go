package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// pullWait is how long one pull request waits on the server for its batch;
// the messages of a batch are handed on as they arrive, so it bounds
// nothing but how often an idle consumer asks again.
const pullWait = 30 * time.Second

// pullHeartbeat is how often the server says a waiting pull request is
// still held. Two missed end the request, so one lost with a restarted
// server is sent again within seconds, not at its expiry.
const pullHeartbeat = 2 * time.Second

// pullBatches hands every message of cons to handle, one pull request of
// batch messages at a time, until ctx ends. The next request is sent when
// the last one is spent, answered or expired.
//
// It replaces jetstream's Consume, whose refill can be lost (nats.go
// v1.55.0): Consume asks for more when its count of outstanding messages
// falls below half the batch, but skips that check while its previous
// request is still being written, and when the rest of the outstanding
// messages arrive inside that window, nothing checks again. The server
// then holds no request for the consumer and sends no heartbeats, and the
// consumer sits idle until the client misses two heartbeats: 30 s with
// the default expiry, with the stream full of mail. On two busy cores it
// happened in 5 of 77 BenchmarkPipeline runs (docs/benchmarks.md). Here
// a request ends only with its own last message, its expiry, an error or
// ctx, and the loop then always sends the next one.
func pullBatches(ctx context.Context, cons jetstream.Consumer, batch int, handle func(jetstream.Msg), report func(error)) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, pullWait)
		b, err := cons.Fetch(batch, jetstream.FetchContext(fctx), jetstream.FetchHeartbeat(pullHeartbeat))
		if err != nil {
			cancel()
			report(err)
			pause(ctx, time.Second)
			continue
		}
		n := 0
		for m := range b.Messages() {
			handle(m)
			n++
		}
		err = b.Error()
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			report(err)
			if n == 0 {
				// The consumer is gone or the server refuses: do not spin.
				pause(ctx, time.Second)
			}
		}
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
