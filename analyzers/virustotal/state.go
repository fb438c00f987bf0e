package virustotal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// Buckets, shared by every worker (in the pipeline: JetStream KV
// "mailsift-virustotal" and so on).
const (
	cacheBucket  = "virustotal"
	minuteBucket = "virustotal-minute"
	dayBucket    = "virustotal-day"
)

type state struct {
	cache, minute, day analyzers.KV
}

func openState(ctx context.Context, s analyzers.State, cfg Config) (*state, error) {
	// Entries carry their own expiry by kind; the bucket's TTL only has
	// to outlast the longest, so stale entries are purged eventually.
	ttl := max(cfg.CacheMaliciousTTL, cfg.CacheCleanTTL, cfg.CacheUnknownTTL)
	var st state
	var err error
	if st.cache, err = s.Bucket(ctx, cacheBucket, ttl); err != nil {
		return nil, fmt.Errorf("virustotal cache: %w", err)
	}
	if st.minute, err = s.Bucket(ctx, minuteBucket, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("virustotal rate limit: %w", err)
	}
	if st.day, err = s.Bucket(ctx, dayBucket, 48*time.Hour); err != nil {
		return nil, fmt.Errorf("virustotal rate limit: %w", err)
	}
	return &st, nil
}

// entry is one cached answer.
type entry struct {
	Known      bool      `json:"known"`
	Malicious  int       `json:"malicious"`
	Suspicious int       `json:"suspicious"`
	Engines    int       `json:"engines"`
	Names      []string  `json:"names,omitempty"`
	Uploaded   bool      `json:"uploaded,omitempty"`
	Expires    time.Time `json:"expires"`
}

func entryOf(r FileResult) entry {
	return entry{Known: r.Known, Malicious: r.Malicious, Suspicious: r.Suspicious, Engines: r.Engines, Names: r.Names, Uploaded: r.Uploaded}
}

func (e entry) apply(r *FileResult) {
	r.Known, r.Malicious, r.Suspicious, r.Engines, r.Names, r.Uploaded = e.Known, e.Malicious, e.Suspicious, e.Engines, e.Names, e.Uploaded
}

func (s *state) cached(ctx context.Context, sha string, now time.Time) (entry, bool, error) {
	b, _, err := s.cache.Get(ctx, sha)
	if errors.Is(err, analyzers.ErrNotFound) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, fmt.Errorf("virustotal cache: %w", err)
	}
	var e entry
	if json.Unmarshal(b, &e) != nil || !now.Before(e.Expires) {
		return entry{}, false, nil
	}
	return e, true, nil
}

func (s *state) store(ctx context.Context, sha string, e entry, now time.Time, ttl time.Duration) error {
	e.Expires = now.Add(ttl)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := s.cache.Put(ctx, sha, b); err != nil {
		return fmt.Errorf("virustotal cache: %w", err)
	}
	return nil
}

// The budget is counted in fixed windows, one counter per calendar minute
// and per UTC day, each raised with compare-and-set so that workers racing
// for the last request cannot both get it.
func minuteKey(now time.Time) string { return "m." + strconv.FormatInt(now.Unix()/60, 10) }
func dayKey(now time.Time) string    { return "d." + now.UTC().Format("2006-01-02") }

// take spends one request if both windows allow it. 0 is no limit.
func (s *state) take(ctx context.Context, now time.Time, perMinute, perDay int) (bool, error) {
	if perMinute > 0 {
		ok, err := increment(ctx, s.minute, minuteKey(now), perMinute)
		if err != nil || !ok {
			return false, err
		}
	}
	if perDay > 0 {
		return increment(ctx, s.day, dayKey(now), perDay)
	}
	return true, nil
}

// exhaust closes the current minute for every worker.
func (s *state) exhaust(ctx context.Context, now time.Time, perMinute int) error {
	if perMinute <= 0 {
		perMinute = 1
	}
	if _, err := s.minute.Put(ctx, minuteKey(now), []byte(strconv.Itoa(perMinute))); err != nil {
		return fmt.Errorf("virustotal rate limit: %w", err)
	}
	return nil
}

// increment raises the counter at key unless it has reached limit.
func increment(ctx context.Context, kv analyzers.KV, key string, limit int) (bool, error) {
	for range 50 {
		b, rev, err := kv.Get(ctx, key)
		if errors.Is(err, analyzers.ErrNotFound) {
			_, err = kv.Create(ctx, key, []byte("1"))
			if errors.Is(err, analyzers.ErrExists) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("virustotal rate limit: %w", err)
			}
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("virustotal rate limit: %w", err)
		}
		n, _ := strconv.Atoi(string(b))
		if n >= limit {
			return false, nil
		}
		_, err = kv.Update(ctx, key, []byte(strconv.Itoa(n+1)), rev)
		if errors.Is(err, analyzers.ErrConflict) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("virustotal rate limit: %w", err)
		}
		return true, nil
	}
	return false, errors.New("virustotal rate limit: too many workers raced for the counter; try again")
}
