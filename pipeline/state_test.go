package pipeline

import (
	"testing"

	"github.com/mailsift/mailsift/analyzers/analyzertest"
)

func TestStateKeepsTheKVContract(t *testing.T) {
	c := startConn(t, t.TempDir())
	defer c.Close()
	analyzertest.State(t, c.State(), nil)
}
