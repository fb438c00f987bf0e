// Package analyzertest has helpers for testing analyzers and the hosts
// that run them, as net/http/httptest does for HTTP.
package analyzertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// State checks that s keeps the analyzers.State contract: create, compare
// and set, delete, invalid keys, and (when advance is given, moving the
// store's clock) expiry.
func State(t testing.TB, s analyzers.State, advance func(time.Duration)) {
	t.Helper()
	ctx := context.Background()
	kv, err := s.Bucket(ctx, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get(ctx, "a"); !errors.Is(err, analyzers.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	r1, err := kv.Create(ctx, "a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "a", []byte("x")); !errors.Is(err, analyzers.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	r2, err := kv.Update(ctx, "a", []byte("2"), r1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "a", []byte("3"), r1); !errors.Is(err, analyzers.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	v, rev, err := kv.Get(ctx, "a")
	if err != nil || string(v) != "2" || rev != r2 {
		t.Fatalf("get = %q %d %v, want 2 %d", v, rev, err, r2)
	}
	if _, err := kv.Put(ctx, "bad key", nil); err == nil {
		t.Error("put accepted a key with a space")
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get(ctx, "a"); !errors.Is(err, analyzers.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if advance != nil {
		if _, err := kv.Put(ctx, "b", []byte("x")); err != nil {
			t.Fatal(err)
		}
		advance(2 * time.Hour)
		if _, _, err := kv.Get(ctx, "b"); !errors.Is(err, analyzers.ErrNotFound) {
			t.Fatalf("get expired: %v", err)
		}
	}
}
