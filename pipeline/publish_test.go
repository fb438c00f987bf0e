package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Each answer JetStream gives a publish reaches the publish that asked.
func TestPublisherOutcomes(t *testing.T) {
	c := startConn(t, t.TempDir())
	defer c.Close()
	ctx := context.Background()
	if err := c.Setup(ctx, nil, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		subject, id, st string
		wantSeq         uint64
		wantDup         bool
		wantErr         error
		wantCode        jetstream.ErrorCode
	}{
		{name: "stored", subject: SubjectMailPrefix + "a", id: "one", st: StreamMail, wantSeq: 1},
		{name: "stored next", subject: SubjectMailPrefix + "a", id: "two", st: StreamMail, wantSeq: 2},
		{name: "same ID again is a duplicate of the first", subject: SubjectMailPrefix + "a", id: "one", st: StreamMail, wantSeq: 1, wantDup: true},
		{name: "stream other than expected", subject: SubjectMailPrefix + "a", id: "three", st: StreamReports, wantCode: 10060},
		{name: "no stream for the subject", subject: "nowhere.a", wantErr: jetstream.ErrNoStreamResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := c.pub.send(publishMsg(tt.subject, tt.id, tt.st, []byte("x")))
			if err != nil {
				t.Fatal(err)
			}
			err = c.pub.wait(ctx, a, 5*time.Second)
			var apiErr *jetstream.APIError
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.wantCode != 0:
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != tt.wantCode {
					t.Fatalf("err = %v, want JetStream error %d", err, tt.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			case a.seq != tt.wantSeq || a.dup != tt.wantDup:
				t.Fatalf("seq %d duplicate %v, want %d %v", a.seq, a.dup, tt.wantSeq, tt.wantDup)
			}
		})
	}
	if n := waitingCount(c.pub); n != 0 {
		t.Errorf("%d publishes still waiting after every answer came", n)
	}
}

// A publish whose answer never comes is given up after its timeout and
// forgotten, and a lost connection fails every publish in flight at once.
func TestPublisherGivesUp(t *testing.T) {
	p := newPublisher()
	a := neverAcked(p)
	start := time.Now()
	if err := p.wait(context.Background(), a, 50*time.Millisecond); err == nil {
		t.Fatal("wait without an answer succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("timeout of 50ms took %v", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx, neverAcked(p), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a cancelled context: %v", err)
	}
	if n := waitingCount(p); n != 0 {
		t.Errorf("%d abandoned publishes still waiting", n)
	}

	in := []*pubAck{neverAcked(p), neverAcked(p)}
	p.connectionLost()
	for _, a := range in {
		select {
		case <-a.done:
			if a.err == nil {
				t.Error("publish in flight succeeded with its connection lost")
			}
		default:
			t.Error("publish in flight still waiting after the connection was lost")
		}
	}
	// Sent in the moment of the loss, it missed connectionLost; its wait
	// notices within lostCheck.
	late := neverAcked(p)
	late.lost--
	start = time.Now()
	if err := p.wait(context.Background(), late, time.Minute); err == nil || time.Since(start) > 10*lostCheck {
		t.Errorf("publish from before the loss: err %v after %v", err, time.Since(start))
	}
}

func waitingCount(p *publisher) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}
