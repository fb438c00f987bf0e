package keywords

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// dfTable is the document frequencies of one mailbox, as stored in the
// bucket: how many messages were counted, and in how many of them each
// stem occurred.
type dfTable struct {
	Docs  int            `json:"docs"`
	Terms map[string]int `json:"terms"`
}

// dfStore keeps a mailbox's document frequencies in a shared bucket. Each
// process counts the messages it saw and merges its counts into the bucket
// every so often with compare-and-set, and reads the merged table back
// as often, so a deployment's workers share one table without a write per
// message.
type dfStore struct {
	kv       analyzers.KV
	maxDocs  int
	maxTerms int
	every    time.Duration
	now      func() time.Time

	mu     sync.Mutex
	tables map[string]*dfEntry
}

type dfEntry struct {
	table    *dfTable
	loaded   time.Time
	pending  map[string]int
	pendDocs int
}

// dfView adapts a table snapshot to DF.
type dfView struct{ t *dfTable }

func (v dfView) Docs() int {
	if v.t == nil {
		return 0
	}
	return v.t.Docs
}

func (v dfView) Count(s string) int {
	if v.t == nil {
		return 0
	}
	return v.t.Terms[s]
}

func dfKey(mailbox string) string {
	if mailbox == "" {
		mailbox = "default"
	}
	var sb strings.Builder
	sb.WriteString("df.")
	for _, r := range mailbox {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// view returns the table of mailbox, reading the bucket when the cached
// copy is older than every.
func (s *dfStore) view(ctx context.Context, mailbox string) (DF, error) {
	key := dfKey(mailbox)
	s.mu.Lock()
	e := s.tables[key]
	if e == nil {
		e = &dfEntry{pending: map[string]int{}}
		s.tables[key] = e
	}
	fresh := e.table != nil && s.now().Sub(e.loaded) < s.every
	t := e.table
	s.mu.Unlock()
	if fresh {
		return dfView{t}, nil
	}
	t, _, err := s.get(ctx, key)
	if err != nil {
		return dfView{}, err
	}
	s.mu.Lock()
	e.table, e.loaded = t, s.now()
	s.mu.Unlock()
	return dfView{t}, nil
}

func (s *dfStore) get(ctx context.Context, key string) (*dfTable, uint64, error) {
	b, rev, err := s.kv.Get(ctx, key)
	if errors.Is(err, analyzers.ErrNotFound) {
		return &dfTable{Terms: map[string]int{}}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", key, err)
	}
	var t dfTable
	if err := json.Unmarshal(b, &t); err != nil || t.Terms == nil {
		// A damaged table is replaced rather than blocking every message.
		return &dfTable{Terms: map[string]int{}}, rev, nil
	}
	return &t, rev, nil
}

// add counts one message's stems, and merges what this process counted
// into the bucket once every has passed since the table was read.
func (s *dfStore) add(ctx context.Context, mailbox string, stems []string) error {
	key := dfKey(mailbox)
	s.mu.Lock()
	e := s.tables[key]
	if e == nil {
		e = &dfEntry{pending: map[string]int{}}
		s.tables[key] = e
	}
	for _, st := range stems {
		e.pending[st]++
	}
	e.pendDocs++
	due := e.table == nil || s.now().Sub(e.loaded) >= s.every
	var pending map[string]int
	var docs int
	if due {
		pending, docs = e.pending, e.pendDocs
		e.pending, e.pendDocs = map[string]int{}, 0
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	t, err := s.merge(ctx, key, pending, docs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// Keep the counts for the next attempt.
		for k, v := range pending {
			e.pending[k] += v
		}
		e.pendDocs += docs
		return err
	}
	e.table, e.loaded = t, s.now()
	return nil
}

func (s *dfStore) merge(ctx context.Context, key string, pending map[string]int, docs int) (*dfTable, error) {
	for attempt := 0; attempt < 8; attempt++ {
		t, rev, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		t.Docs += docs
		for k, v := range pending {
			t.Terms[k] += v
		}
		s.forget(t)
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		// A bucket value travels as one NATS message: keep it well under
		// the 1 MiB a server takes by default, rarest stems first out.
		for len(b) > maxTableBytes {
			s.prune(t, len(t.Terms)*3/4)
			if b, err = json.Marshal(t); err != nil {
				return nil, err
			}
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if errors.Is(err, analyzers.ErrExists) || errors.Is(err, analyzers.ErrConflict) {
			continue // another worker merged first; merge onto theirs
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", key, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("writing %s: too many concurrent updates", key)
}

// forget keeps the table to recent mail: past maxDocs messages every count
// is halved, so old mail fades, and past maxTerms the rarest stems go.
func (s *dfStore) forget(t *dfTable) {
	for t.Docs > s.maxDocs {
		t.Docs /= 2
		for k, v := range t.Terms {
			if v/2 == 0 {
				delete(t.Terms, k)
			} else {
				t.Terms[k] = v / 2
			}
		}
	}
	s.prune(t, s.maxTerms)
}

// maxTableBytes bounds a mailbox's table as stored.
const maxTableBytes = 512 << 10

// prune drops the rarest stems until at most n are left.
func (s *dfStore) prune(t *dfTable, n int) {
	for min := 1; len(t.Terms) > n; min++ {
		for k, v := range t.Terms {
			if v <= min {
				delete(t.Terms, k)
			}
		}
	}
}
