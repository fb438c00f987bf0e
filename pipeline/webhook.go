package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/report"
)

// Webhook headers. The signature lets a receiver check that a report came
// from mailsift; the idempotency key lets it drop a report delivered twice
// (an output retries until the receiver answers 2xx).
const (
	HeaderSignature   = "Mailsift-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderReportID    = "Mailsift-Report-Id"
	HeaderIdempotency = "Idempotency-Key"
)

// Condition is a `when:` expression over a report, written in expr
// (expr-lang.org), e.g. `verdict == "malicious" || sentiment.score < -0.5`.
//
// The expression sees the report's fields (verdict, score, subject, from,
// to, mailbox, size, message_id), `results` (a map from analyzer name to its
// result: status, verdict, score, error), `symbols` (every symbol name in the
// report), and each analyzer by name as an object holding its `data` fields
// plus status and verdict, so `sentiment.score` is the sentiment analyzer's
// own score.
type Condition struct {
	src  string
	prog *vm.Program
}

// CompileCondition checks and compiles an expression once, at start.
func CompileCondition(src string) (*Condition, error) {
	if src == "" {
		return nil, nil
	}
	prog, err := expr.Compile(src, expr.AsBool(), expr.AllowUndefinedVariables())
	if err != nil {
		// expr draws a caret under the source on further lines; mailsift
		// errors are one line, and the position is in the first.
		first, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("when %q: %s", src, first)
	}
	return &Condition{src: src, prog: prog}, nil
}

// Match evaluates the condition on a report; a nil condition matches all.
func (c *Condition) Match(r *report.Report) (bool, error) {
	if c == nil {
		return true, nil
	}
	out, err := expr.Run(c.prog, conditionEnv(r))
	if err != nil {
		return false, fmt.Errorf("when %q on report %s: %w", c.src, r.ID, err)
	}
	b, _ := out.(bool)
	return b, nil
}

func conditionEnv(r *report.Report) map[string]any {
	env := map[string]any{
		"verdict": string(r.Verdict), "score": r.Score, "subject": r.Subject, "from": r.From,
		"to": r.To, "mailbox": r.Mailbox, "size": r.Size, "message_id": r.MessageID, "id": r.ID,
	}
	results := map[string]any{}
	var symbols []string
	for _, res := range r.Results {
		results[res.Analyzer] = map[string]any{
			"status": string(res.Status), "verdict": string(res.Verdict), "score": res.Score, "error": res.Error,
		}
		a := map[string]any{}
		if len(res.Data) > 0 {
			_ = json.Unmarshal(res.Data, &a)
		}
		a["status"], a["verdict"] = string(res.Status), string(res.Verdict)
		if _, ok := env[res.Analyzer]; !ok {
			env[res.Analyzer] = a
		}
		for _, s := range res.Symbols {
			symbols = append(symbols, s.Name)
		}
	}
	env["results"], env["symbols"] = results, symbols
	return env
}

// Webhook POSTs each report as JSON.
type Webhook struct {
	url     string
	secret  []byte
	client  *http.Client
	retries int
	backoff time.Duration
}

// NewWebhook builds a webhook output from its config entry.
func NewWebhook(c OutputConfig) (*Webhook, error) {
	w := &Webhook{url: c.URL, client: &http.Client{Timeout: 10 * time.Second}, retries: 3, backoff: time.Second}
	if c.Timeout > 0 {
		w.client.Timeout = c.Timeout
	}
	if c.SecretEnv != "" || c.SecretFile != "" {
		s, err := config.Secret("output "+c.ConsumerName()+" secret", c.SecretEnv, c.SecretFile)
		if err != nil {
			return nil, err
		}
		w.secret = []byte(s)
	}
	return w, nil
}

// Write posts the report, retrying with a doubling delay; if every attempt
// fails the error makes the output redeliver it later.
func (w *Webhook) Write(ctx context.Context, r *report.Report, raw []byte) error {
	body := bytes.TrimSpace(raw)
	delay := w.backoff
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, r.ID, body)
		if err == nil || attempt > w.retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func (w *Webhook) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mailsift")
	req.Header.Set(HeaderReportID, id)
	req.Header.Set(HeaderIdempotency, id)
	if len(w.secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: HTTP %s", w.url, strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// Sign is the Mailsift-Signature of a body: "sha256=" and the hex
// HMAC-SHA256 under secret, as GitHub signs its webhooks.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Flush has nothing to do: a report is delivered when Write returns.
func (w *Webhook) Flush() error { return nil }

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
