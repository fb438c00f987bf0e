package analyzers_test

import (
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/analyzertest"
)

// TestMemoryState checks the KV contract, which pipeline's JetStream-backed
// State meets too.
func TestMemoryState(t *testing.T) {
	s := analyzers.NewMemoryState()
	now := time.Unix(1000, 0)
	s.SetClock(func() time.Time { return now })
	analyzertest.State(t, s, func(d time.Duration) { now = now.Add(d) })
}
