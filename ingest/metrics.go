package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsift/mailsift/ingest/pop3"
)

// Metrics are ingest's Prometheus series, per mailbox.
type Metrics struct {
	Messages    *prometheus.CounterVec
	Bytes       *prometheus.CounterVec
	Duplicates  *prometheus.CounterVec
	Deleted     *prometheus.CounterVec
	Skipped     *prometheus.CounterVec
	PollSeconds *prometheus.HistogramVec
	Errors      *prometheus.CounterVec
}

// NewMetrics creates ingest's metrics and registers them with reg (nil:
// not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mailsift", Subsystem: "ingest", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		Messages:   counter("messages_total", "Messages fetched and acknowledged by JetStream.", "mailbox"),
		Bytes:      counter("bytes_total", "Bytes of the messages fetched.", "mailbox"),
		Duplicates: counter("duplicates_total", "Messages fetched again that JetStream already held.", "mailbox"),
		Deleted:    counter("deleted_total", "Messages deleted from the server.", "mailbox"),
		Skipped:    counter("skipped_total", "Messages left on the server unfetched (over max_message_size).", "mailbox"),
		Errors:     counter("errors_total", "Failed polls, by kind: auth, tls, timeout, connection, server, publish, other.", "mailbox", "kind"),
		PollSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mailsift", Subsystem: "ingest", Name: "poll_duration_seconds",
			Help:    "Time one poll of a mailbox took, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10), // 10ms .. 3 min
		}, []string{"mailbox"}),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Bytes, m.Duplicates, m.Deleted, m.Skipped, m.Errors, m.PollSeconds)
	}
	return m
}

func (m *Metrics) observe(st Stats, err error) {
	mb := st.Mailbox
	m.Messages.WithLabelValues(mb).Add(float64(st.Fetched))
	m.Bytes.WithLabelValues(mb).Add(float64(st.Bytes))
	m.Duplicates.WithLabelValues(mb).Add(float64(st.Duplicates))
	m.Deleted.WithLabelValues(mb).Add(float64(st.Deleted))
	m.Skipped.WithLabelValues(mb).Add(float64(st.Skipped))
	m.PollSeconds.WithLabelValues(mb).Observe(st.Duration.Seconds())
	if err != nil {
		m.Errors.WithLabelValues(mb, errorKind(err)).Inc()
	}
}

// errorKind sorts a poll failure into the few kinds an operator acts on
// differently.
func errorKind(err error) string {
	var perr *pop3.Error
	switch {
	case errors.Is(err, pop3.ErrAuth), errors.Is(err, pop3.ErrPlaintext):
		return "auth"
	case errors.Is(err, pop3.ErrTimeout):
		return "timeout"
	case isTLSError(err):
		return "tls"
	case errors.Is(err, pop3.ErrTruncated), errors.Is(err, pop3.ErrClosed):
		return "connection"
	case errors.As(err, &perr):
		return "server"
	case errors.Is(err, errPublish):
		return "publish"
	}
	return "other"
}

// errPublish marks failures on the JetStream side of a poll.
var errPublish = errors.New("publish to JetStream failed")

func isTLSError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		herr x509.HostnameError
		uerr x509.UnknownAuthorityError
		cerr x509.CertificateInvalidError
		rerr tls.RecordHeaderError
	)
	return errors.As(err, &verr) || errors.As(err, &herr) || errors.As(err, &uerr) || errors.As(err, &cerr) || errors.As(err, &rerr)
}
