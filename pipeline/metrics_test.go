package pipeline

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHealthReadinessAndMetricsEndpoints(t *testing.T) {
	c := startConn(t, t.TempDir())
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := NewRegistry()
	m := NewMetrics(reg)
	reg.MustRegister(c.QueueCollector([]string{"a"}))
	m.Reports.WithLabelValues("clean").Add(3)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	go func() { _ = c.ServeHTTP(ctx, addr, reg, testLog(t)) }()
	get := func(path string) (int, string) {
		var resp *http.Response
		var err error
		for i := 0; i < 50; i++ {
			if resp, err = http.Get("http://" + addr + path); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	// Not ready before the streams exist.
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "stream MAIL") {
		t.Errorf("/readyz before setup = %d %q", code, body)
	}
	if err := c.Setup(ctx, []string{"a"}, DefaultWorker()); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz after setup = %d", code)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`mailsift_reports_total{verdict="clean"} 3`,
		`mailsift_queue_pending_messages{consumer="analyzer-a",stream="MAIL"} 0`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
