package phishing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// senderHistory is the record, shared by every worker through a bucket, of
// the sender domains each mailbox has had mail from. Each key holds the id
// of the first message from that domain, so a redelivery of that message is
// still the first.
//
// Most mail comes from senders seen before, and asking the bucket about
// each of them costs three round trips (a refused create, a read and a
// write to push the expiry back). The process therefore remembers the
// answers it had and asks again only once refreshEvery has passed, which
// moves an entry's expiry earlier by at most that much.
type senderHistory struct {
	kv  analyzers.KV
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	seen map[string]knownSender
}

type knownSender struct {
	first     string // id of the first message from the domain
	refreshed time.Time
}

// maxKnownSenders bounds the process's memory of senders; past it, an
// arbitrary one is forgotten and costs a round trip when it writes again.
const maxKnownSenders = 100_000

func newSenderHistory(kv analyzers.KV, ttl time.Duration) *senderHistory {
	return &senderHistory{kv: kv, ttl: ttl, now: time.Now, seen: map[string]knownSender{}}
}

// refreshEvery is how long an answer is reused: a small share of the
// bucket's TTL, and never so long that a process misses for hours what
// another one recorded (an entry that expired and was written anew).
func (h *senderHistory) refreshEvery() time.Duration {
	if h.ttl > 0 && h.ttl/100 < time.Hour {
		return h.ttl / 100
	}
	return time.Hour
}

// firstSeen records the sender under key and says whether message id is the
// first mail from it.
func (h *senderHistory) firstSeen(ctx context.Context, key, id string) (bool, error) {
	now := h.now()
	h.mu.Lock()
	k, ok := h.seen[key]
	h.mu.Unlock()
	if ok && now.Sub(k.refreshed) < h.refreshEvery() {
		return id != "" && k.first == id, nil
	}
	first, created, err := h.record(ctx, key, id)
	if err != nil {
		return false, err
	}
	h.mu.Lock()
	if len(h.seen) >= maxKnownSenders {
		for old := range h.seen {
			delete(h.seen, old)
			break
		}
	}
	h.seen[key] = knownSender{first: first, refreshed: now}
	h.mu.Unlock()
	return created || id != "" && first == id, nil
}

// record writes the sender to the bucket and returns the id of its first
// message, and whether this call made the record.
func (h *senderHistory) record(ctx context.Context, key, id string) (first string, created bool, err error) {
	_, err = h.kv.Create(ctx, key, []byte(id))
	switch {
	case err == nil:
		return id, true, nil
	case !errors.Is(err, analyzers.ErrExists):
		return "", false, fmt.Errorf("phishing: recording sender %s: %w", key, err)
	}
	v, _, err := h.kv.Get(ctx, key)
	if err != nil && !errors.Is(err, analyzers.ErrNotFound) {
		return "", false, fmt.Errorf("phishing: reading sender %s: %w", key, err)
	}
	if id == "" || string(v) != id {
		// Written again, with the id of the mail that was first, so that
		// the entry expires a TTL after the last mail.
		if _, err := h.kv.Put(ctx, key, v); err != nil {
			return "", false, fmt.Errorf("phishing: recording sender %s: %w", key, err)
		}
	}
	return string(v), false, nil
}
