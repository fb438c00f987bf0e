package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nats-io/nats.go"
)

func TestReadUpTo(t *testing.T) {
	body := strings.Repeat("0123456789", 100) // 1000 bytes
	tests := []struct {
		name    string
		size    int64
		buf     []byte
		limit   int64
		want    int
		reused  bool // the result lives in buf
		wantErr bool
	}{
		{name: "size known", size: 1000, limit: 4096, want: 1000},
		{name: "size unknown", size: 0, limit: 4096, want: 1000},
		{name: "size too small a hint", size: 10, limit: 4096, want: 1000},
		{name: "over the limit stops one past it", size: 1000, limit: 500, want: 500},
		{name: "buffer with room is reused", size: 1000, buf: make([]byte, 7, 2000), limit: 4096, want: 1000, reused: true},
		{name: "buffer too small is not", size: 1000, buf: make([]byte, 0, 100), limit: 4096, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := iotest.HalfReader(strings.NewReader(body)) // short reads, as from a network
			got, err := readUpTo(r, tt.buf, tt.size, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatal(err)
			}
			if len(got) != tt.want || !bytes.Equal(got, []byte(body[:tt.want])) {
				t.Fatalf("read %d bytes %q..., want the first %d", len(got), got[:min(len(got), 12)], tt.want)
			}
			if reused := tt.buf != nil && cap(got) > 0 && &got[:1][0] == &tt.buf[:1][0]; reused != tt.reused {
				t.Errorf("buffer reused %v, want %v", reused, tt.reused)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		broken := errors.New("line cut")
		_, err := readUpTo(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), nil, 10, 100)
		if !errors.Is(err, broken) {
			t.Fatalf("err = %v, want the reader's", err)
		}
	})
}

// A wait for an acknowledgement whose connection went away fails within
// moments instead of sitting out the whole acknowledgement timeout.
func TestWaitFailsWhenTheConnectionDrops(t *testing.T) {
	c := listening(t)
	ctx := context.Background()
	if err := c.Setup(ctx, nil, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.URL = c.ClientURL()
	remote, err := Connect(ctx, cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	// A publish that never gets an answer, as if its reply were lost.
	p := remote.pending("publish x to " + StreamMail)
	p.ack = neverAcked(remote.pub)
	c.Close() // the server goes away
	start := time.Now()
	_, err = p.Wait(ctx)
	if !errors.Is(err, nats.ErrDisconnected) {
		t.Fatalf("err = %v, want ErrDisconnected", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Wait took %v", took)
	}
	if _, err := remote.PublishAsync(ctx, Mail{Mailbox: "support", ID: "x", Body: strings.NewReader("Subject: x\r\n\r\n")}); !errors.Is(err, nats.ErrDisconnected) {
		t.Errorf("publish while disconnected: %v, want ErrDisconnected at once", err)
	}
	// One that slipped out after the loss was counted, while the client
	// reconnects: its answer cannot come now either.
	late := remote.pending("publish y to " + StreamMail)
	late.ack = neverAcked(remote.pub)
	start = time.Now()
	if _, err := late.Wait(ctx); !errors.Is(err, nats.ErrDisconnected) {
		t.Fatalf("publish sent while disconnected: err = %v, want ErrDisconnected", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Wait for a publish sent while disconnected took %v", took)
	}
}

// neverAcked registers a publish that was never sent.
func neverAcked(p *publisher) *pubAck {
	a := &pubAck{done: make(chan struct{}), lost: p.lost.Load(), sent: time.Now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	a.token = p.next
	p.waiting[a.token] = a
	return a
}
