package analyzers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Stateful is implemented by analyzers that keep state shared by every
// process running them: a cache of lookups, a rate limit on an API, a
// history of senders. The host calls Attach once, before the first Analyze.
//
// In the pipeline the buckets live in NATS JetStream KV, so every worker of
// a deployment shares them; in `mailsift scan` they live in memory for the
// run. Analyzers never see NATS itself.
type Stateful interface {
	Attach(ctx context.Context, s State) error
}

// State hands out key-value buckets.
type State interface {
	// Bucket opens (creating if needed) the named bucket. Entries expire ttl
	// after they were last written; 0 keeps them. Names are lower-case
	// letters, digits and '-'; the pipeline stores them as
	// "mailsift-<name>".
	Bucket(ctx context.Context, name string, ttl time.Duration) (KV, error)
}

// KV is a bucket of keys and values with compare-and-set, enough to build a
// shared cache, counter or rate limiter. Keys are letters, digits and
// "-_=/." (no leading, trailing or doubled '.').
type KV interface {
	// Get returns the value and its revision, or ErrNotFound.
	Get(ctx context.Context, key string) (value []byte, revision uint64, err error)
	// Put stores a value whatever was there.
	Put(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Create stores a value only if the key is absent, else ErrExists.
	Create(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Update stores a value only if the key is still at revision, else
	// ErrConflict.
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	// Delete removes a key.
	Delete(ctx context.Context, key string) error
}

// Errors of KV.
var (
	ErrNotFound = errors.New("key not found")
	ErrExists   = errors.New("key exists")
	ErrConflict = errors.New("key changed since it was read")
)

// MemoryState is a State held in this process, for offline scans and tests.
type MemoryState struct {
	mu      sync.Mutex
	buckets map[string]*memoryKV
	now     func() time.Time
}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState {
	return &MemoryState{buckets: map[string]*memoryKV{}, now: time.Now}
}

// SetClock replaces the clock that expires entries, for tests.
func (s *MemoryState) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Bucket implements State.
func (s *MemoryState) Bucket(_ context.Context, name string, ttl time.Duration) (KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	if !ok {
		b = &memoryKV{ttl: ttl, now: func() time.Time { return s.clock() }, m: map[string]memoryEntry{}}
		s.buckets[name] = b
	}
	return b, nil
}

func (s *MemoryState) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

type memoryEntry struct {
	val []byte
	rev uint64
	at  time.Time
}

type memoryKV struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	rev uint64
	m   map[string]memoryEntry
}

func (kv *memoryKV) live(key string) (memoryEntry, bool) {
	e, ok := kv.m[key]
	if ok && kv.ttl > 0 && kv.now().Sub(e.at) >= kv.ttl {
		delete(kv.m, key)
		return memoryEntry{}, false
	}
	return e, ok
}

func (kv *memoryKV) set(key string, value []byte) uint64 {
	kv.rev++
	kv.m[key] = memoryEntry{val: append([]byte(nil), value...), rev: kv.rev, at: kv.now()}
	return kv.rev
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return errors.New("invalid key " + key)
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=/.", r)) {
			return errors.New("invalid key " + key)
		}
	}
	return nil
}

func (kv *memoryKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.live(key)
	if !ok {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), e.val...), e.rev, nil
}

func (kv *memoryKV) Put(_ context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.set(key, value), nil
}

func (kv *memoryKV) Create(_ context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if _, ok := kv.live(key); ok {
		return 0, ErrExists
	}
	return kv.set(key, value), nil
}

func (kv *memoryKV) Update(_ context.Context, key string, value []byte, revision uint64) (uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.live(key)
	if !ok || e.rev != revision {
		return 0, ErrConflict
	}
	return kv.set(key, value), nil
}

func (kv *memoryKV) Delete(_ context.Context, key string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	delete(kv.m, key)
	return nil
}
