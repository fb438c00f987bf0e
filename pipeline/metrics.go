package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the pipeline's Prometheus series. A nil registerer gives
// working but unexported metrics, which is what tests and `scan` want.
type Metrics struct {
	AnalyzerSeconds *prometheus.HistogramVec
	Results         *prometheus.CounterVec
	Deliveries      *prometheus.CounterVec
	Redeliveries    *prometheus.CounterVec
	DeadLetters     *prometheus.CounterVec
	Reports         *prometheus.CounterVec
	ReportSeconds   prometheus.Histogram
}

// NewMetrics creates the pipeline's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		AnalyzerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mailsift", Name: "analyzer_duration_seconds",
			Help:    "Time one analysis took, by analyzer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
		}, []string{"analyzer"}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailsift", Name: "results_total",
			Help: "Results stored, by analyzer and status.",
		}, []string{"analyzer", "status"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailsift", Name: "deliveries_total",
			Help: "Messages handed to an analyzer, redeliveries included.",
		}, []string{"analyzer"}),
		Redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailsift", Name: "redeliveries_total",
			Help: "Messages handed to an analyzer again after a failure, timeout or crash.",
		}, []string{"analyzer"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailsift", Name: "dead_letters_total",
			Help: "Messages that ran out of attempts, by analyzer.",
		}, []string{"analyzer"}),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailsift", Name: "reports_total",
			Help: "Reports stored, by verdict.",
		}, []string{"verdict"}),
		ReportSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "mailsift", Name: "report_latency_seconds",
			Help:    "Time from a message's publish by ingest to its report.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12), // 5ms .. 5.9 min
		}),
	}
	if reg != nil {
		reg.MustRegister(m.AnalyzerSeconds, m.Results, m.Deliveries, m.Redeliveries, m.DeadLetters, m.Reports, m.ReportSeconds)
	}
	return m
}

// queueCollector reports the depth of each consumer when scraped, asking
// JetStream then, so the figure is never stale.
type queueCollector struct {
	conn      *Conn
	consumers [][2]string // stream, consumer
	pending   *prometheus.Desc
	ackPend   *prometheus.Desc
	redeliv   *prometheus.Desc
}

// QueueCollector exports, per durable consumer, the messages waiting, the
// messages being worked on, and those redelivered.
func (c *Conn) QueueCollector(analyzerNames []string) prometheus.Collector {
	qc := &queueCollector{
		conn: c,
		pending: prometheus.NewDesc("mailsift_queue_pending_messages",
			"Messages not yet delivered to the consumer.", []string{"stream", "consumer"}, nil),
		ackPend: prometheus.NewDesc("mailsift_queue_in_progress_messages",
			"Messages delivered and not yet acknowledged.", []string{"stream", "consumer"}, nil),
		redeliv: prometheus.NewDesc("mailsift_queue_redelivered_messages",
			"Messages delivered more than once and not yet acknowledged.", []string{"stream", "consumer"}, nil),
	}
	for _, n := range analyzerNames {
		qc.consumers = append(qc.consumers, [2]string{StreamMail, ConsumerFor(n)})
	}
	qc.consumers = append(qc.consumers, [2]string{StreamResults, ConsumerReporter})
	return qc
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.pending
	ch <- q.ackPend
	ch <- q.redeliv
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, sc := range q.consumers {
		cons, err := q.conn.JS.Consumer(ctx, sc[0], sc[1])
		if err != nil {
			continue // not created yet (a role this deployment does not run)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(q.pending, prometheus.GaugeValue, float64(info.NumPending), sc[0], sc[1])
		ch <- prometheus.MustNewConstMetric(q.ackPend, prometheus.GaugeValue, float64(info.NumAckPending), sc[0], sc[1])
		ch <- prometheus.MustNewConstMetric(q.redeliv, prometheus.GaugeValue, float64(info.NumRedelivered), sc[0], sc[1])
	}
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, for one mailsift process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Ready reports whether this process can do its work: connected to NATS
// and the streams of the wire contract present.
func (c *Conn) Ready(ctx context.Context) error {
	if !c.NC.IsConnected() {
		return fmt.Errorf("nats: not connected (%s)", c.NC.Status())
	}
	for _, s := range []string{StreamMail, StreamResults, StreamReports} {
		if _, err := c.JS.Stream(ctx, s); err != nil {
			return fmt.Errorf("nats: stream %s: %w", s, err)
		}
	}
	return nil
}

// ServeHTTP serves /metrics, /healthz (the process answers) and /readyz
// (Ready) on addr until ctx ends.
func (c *Conn) ServeHTTP(ctx context.Context, addr string, g prometheus.Gatherer, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := c.Ready(rctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics and health endpoints listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
