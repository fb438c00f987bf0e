package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/analyzers"
)

// State gives analyzers buckets in JetStream KV, shared by every process
// of a deployment; it implements analyzers.State.
type State struct{ conn *Conn }

// State returns the analyzers' view of this connection's KV store.
func (c *Conn) State() *State { return &State{conn: c} }

// Bucket implements analyzers.State: bucket name becomes "mailsift-<name>".
func (s *State) Bucket(ctx context.Context, name string, ttl time.Duration) (analyzers.KV, error) {
	if err := CheckName("state bucket", name); err != nil {
		return nil, err
	}
	bucket := "mailsift-" + name
	kv, err := s.conn.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "analyzer state " + name,
		TTL:         ttl,
		Replicas:    max(s.conn.cfg.Replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: kv %s: %w", bucket, err)
	}
	return jsKV{kv}, nil
}

type jsKV struct{ kv jetstream.KeyValue }

// JetStream's error for a compare-and-set whose revision is stale.
const errCodeWrongLastSequence = 10071

func mapKVError(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return analyzers.ErrNotFound
	case errors.Is(err, jetstream.ErrKeyExists):
		return analyzers.ErrExists
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeWrongLastSequence:
		return analyzers.ErrConflict
	}
	return err
}

func (j jsKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := j.kv.Get(ctx, key)
	if err != nil {
		return nil, 0, mapKVError(err)
	}
	return e.Value(), e.Revision(), nil
}

func (j jsKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := j.kv.Put(ctx, key, value)
	return rev, mapKVError(err)
}

func (j jsKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := j.kv.Create(ctx, key, value)
	return rev, mapKVError(err)
}

func (j jsKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	rev, err := j.kv.Update(ctx, key, value, revision)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// nats.go reports a stale revision as "key exists".
		return 0, analyzers.ErrConflict
	}
	return rev, mapKVError(err)
}

func (j jsKV) Delete(ctx context.Context, key string) error {
	err := j.kv.Delete(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return mapKVError(err)
}
