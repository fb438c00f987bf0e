package pipeline

import (
	stdjson "encoding/json"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/report"
)

// The spliced encoding must read back exactly as the struct it stands for,
// with the standard library's decoder, as any consumer of RESULTS would.
func TestEncodeResultMessageMatchesStruct(t *testing.T) {
	at := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		rm   ResultMessage
	}{
		{"ok with symbols and data", ResultMessage{ID: "ab12", Analyzer: "phishing", Deliveries: 1,
			Result: analyzers.Result{Analyzer: "phishing", Status: analyzers.StatusOK, Verdict: analyzers.VerdictSuspicious,
				Score: 6.5, Symbols: []analyzers.Symbol{{Name: "PHISH_X", Score: 6.5, Options: []string{"a\"b", "<c>"}}},
				Data: stdjson.RawMessage(`{"links":[{"url":"https://x.example/?a=1&b=2"}]}`), DurationMS: 3},
			Envelope: report.Envelope{ID: "ab12", Mailbox: "support", Subject: "Grüße \u2028 \"quoted\"", ReceivedAt: &at,
				Artifacts: report.Artifacts{URLs: []string{"https://x.example/"}, Attachments: []report.Attachment{}}}}},
		{"failed, empty envelope", ResultMessage{ID: "cd34", Analyzer: "clamav", Deliveries: 5,
			Result:   analyzers.Failed("clamav", analyzers.StatusError, errTest("clamd: connection refused")),
			Envelope: report.Envelope{ID: "cd34"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := stdjson.Marshal(c.rm.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeResultMessage(c.rm.ID, c.rm.Analyzer, c.rm.Result, env, c.rm.Deliveries)
			if err != nil {
				t.Fatal(err)
			}
			var back, want ResultMessage
			if err := stdjson.Unmarshal(got, &back); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			ref, _ := stdjson.Marshal(c.rm)
			_ = stdjson.Unmarshal(ref, &want)
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("spliced encoding reads back as\n%+v\nwant\n%+v", back, want)
			}
		})
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// progressMsg counts in-progress acks; the rest of jetstream.Msg is unused.
type progressMsg struct {
	jetstream.Msg
	n atomic.Int32
}

func (m *progressMsg) InProgress() error { m.n.Add(1); return nil }

func TestKeepAliveTicksUntilStopped(t *testing.T) {
	m := &progressMsg{}
	stop := keepAlive(m, 5*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for m.n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if m.n.Load() < 3 {
		t.Fatalf("%d in-progress acks in 5s at a 5ms interval", m.n.Load())
	}
	stop()
	after := m.n.Load()
	time.Sleep(50 * time.Millisecond)
	if n := m.n.Load(); n > after {
		t.Fatalf("%d in-progress acks after stop", n-after)
	}
}
