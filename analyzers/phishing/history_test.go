package phishing

import (
	"context"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// countingKV counts the calls that would be round trips to the bucket.
type countingKV struct {
	analyzers.KV
	calls int
}

func (c *countingKV) Get(ctx context.Context, k string) ([]byte, uint64, error) {
	c.calls++
	return c.KV.Get(ctx, k)
}
func (c *countingKV) Put(ctx context.Context, k string, v []byte) (uint64, error) {
	c.calls++
	return c.KV.Put(ctx, k, v)
}
func (c *countingKV) Create(ctx context.Context, k string, v []byte) (uint64, error) {
	c.calls++
	return c.KV.Create(ctx, k, v)
}

func TestSenderHistoryAsksTheBucketOncePerRefresh(t *testing.T) {
	ctx := t.Context()
	bucket, err := analyzers.NewMemoryState().Bucket(ctx, senderBucket, 0)
	if err != nil {
		t.Fatal(err)
	}
	kv := &countingKV{KV: bucket}
	clock := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	h := newSenderHistory(kv, 8760*time.Hour)
	h.now = func() time.Time { return clock }
	other := newSenderHistory(kv, 8760*time.Hour) // a second worker process
	other.now = h.now

	steps := []struct {
		h     *senderHistory
		id    string
		first bool
		calls int // bucket calls made by this step
		later time.Duration
	}{
		{h, "m1", true, 1, 0},                 // created
		{h, "m1", true, 0, 0},                 // redelivery of the first mail, answered from memory
		{h, "m2", false, 0, 0},                // a later mail, from memory
		{other, "m1", true, 2, 0},             // the other process asks: refused create, read
		{other, "m3", false, 0, 0},            // and then remembers
		{h, "m4", false, 0, 30 * time.Minute}, // still within the refresh interval
		{h, "m5", false, 3, 31 * time.Minute}, // past it: asks again and pushes the expiry back
		{h, "m1", true, 0, 0},
	}
	for i, s := range steps {
		clock = clock.Add(s.later)
		before := kv.calls
		first, err := s.h.firstSeen(ctx, historyKey("support", "sender.example"), s.id)
		if err != nil {
			t.Fatal(err)
		}
		if first != s.first || kv.calls-before != s.calls {
			t.Errorf("step %d (%s): first %v with %d bucket calls, want %v with %d", i, s.id, first, kv.calls-before, s.first, s.calls)
		}
	}
}
