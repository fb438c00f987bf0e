// Package report joins the results of every analyzer that looked at one
// message into the mailsift.report/v1 document: one verdict, one score, the
// findings and the artifacts. The pipeline's reporter and `mailsift scan`
// both build reports here, so they cannot disagree.
package report

import (
	"encoding/json"
	"net/mail"
	"slices"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// Schema names the report format; it changes only with an incompatible change.
const Schema = "mailsift.report/v1"

// Report is one message's final document.
type Report struct {
	Schema    string             `json:"schema"`
	ID        string             `json:"id"`
	Mailbox   string             `json:"mailbox,omitempty"`
	UIDL      string             `json:"uidl,omitempty"`
	File      string             `json:"file,omitempty"` // set by `mailsift scan`
	MessageID string             `json:"message_id,omitempty"`
	From      string             `json:"from,omitempty"`
	To        []string           `json:"to,omitempty"`
	Subject   string             `json:"subject"`
	Date      *time.Time         `json:"date,omitempty"`
	Size      int64              `json:"size"`
	Verdict   analyzers.Verdict  `json:"verdict"`
	Score     float64            `json:"score"`
	Results   []analyzers.Result `json:"results"`
	Artifacts Artifacts          `json:"artifacts"`
	// ReceivedAt is when ingest published the message; ReportedAt when the
	// report was complete. Their difference is the pipeline's latency.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
	ReportedAt time.Time  `json:"reported_at"`
}

// Artifacts are the things in a message worth looking up elsewhere.
type Artifacts struct {
	URLs        []string     `json:"urls"`
	Attachments []Attachment `json:"attachments"`
	// Keywords are the key phrases the keywords analyzer found, best first.
	Keywords []string `json:"keywords,omitempty"`
}

// Attachment describes one file carried by the message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Part        string `json:"part"`
}

// Envelope is the part of a report that comes from the message itself rather
// than from analyzers. Workers send it beside each result so the reporter
// never has to read the message again.
type Envelope struct {
	ID         string     `json:"id"`
	Mailbox    string     `json:"mailbox,omitempty"`
	UIDL       string     `json:"uidl,omitempty"`
	MessageID  string     `json:"message_id,omitempty"`
	From       string     `json:"from,omitempty"`
	To         []string   `json:"to,omitempty"`
	Subject    string     `json:"subject"`
	Date       *time.Time `json:"date,omitempty"`
	Size       int64      `json:"size"`
	Artifacts  Artifacts  `json:"artifacts"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// EnvelopeOf takes the envelope fields from a parsed message.
func EnvelopeOf(m *analyzers.Message) Envelope {
	e := Envelope{
		ID:        m.ID,
		Mailbox:   m.Mailbox,
		UIDL:      m.UIDL,
		MessageID: m.Header.MessageID,
		Subject:   m.Header.Subject,
		Size:      int64(len(m.Raw)),
		Artifacts: Artifacts{URLs: []string{}, Attachments: []Attachment{}},
	}
	if len(m.Header.From) > 0 {
		e.From = m.Header.From[0].Address
	}
	for _, list := range [][]*mail.Address{m.Header.To, m.Header.Cc} {
		for _, a := range list {
			e.To = append(e.To, a.Address)
		}
	}
	if !m.Header.Date.IsZero() {
		d := m.Header.Date.UTC()
		e.Date = &d
	}
	e.Artifacts.URLs = append(e.Artifacts.URLs, m.URLs...)
	for _, p := range m.Attachments {
		e.Artifacts.Attachments = append(e.Artifacts.Attachments, Attachment{
			Filename: p.Filename, ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256, Part: p.Path,
		})
	}
	return e
}

// Policy turns results into a verdict.
type Policy struct {
	// Security names the analyzers whose failure makes a message's safety
	// unknown rather than clean.
	Security map[string]bool
	// Thresholds raise the verdict by the summed score, the way rspamd's
	// actions work: a report scoring at least Suspicious is at least
	// suspicious even if no single analyzer said so. Zero disables a level.
	Thresholds Thresholds
}

// Thresholds are the score levels of Policy.
type Thresholds struct {
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
}

// DefaultThresholds match what the built-in analyzers' scores are tuned to.
var DefaultThresholds = Thresholds{Suspicious: 5, Malicious: 15}

// Build assembles the report of one message. The results are sorted by
// analyzer name so a report reads the same whichever analyzer finished first.
func Build(env Envelope, results []analyzers.Result, p Policy, now time.Time) Report {
	rs := slices.Clone(results)
	slices.SortFunc(rs, func(a, b analyzers.Result) int {
		switch {
		case a.Analyzer < b.Analyzer:
			return -1
		case a.Analyzer > b.Analyzer:
			return 1
		}
		return 0
	})
	r := Report{
		Schema: Schema, ID: env.ID, Mailbox: env.Mailbox, UIDL: env.UIDL,
		MessageID: env.MessageID, From: env.From, To: env.To, Subject: env.Subject,
		Date: env.Date, Size: env.Size, Results: rs, Artifacts: env.Artifacts,
		ReceivedAt: env.ReceivedAt, ReportedAt: now.UTC(),
	}
	if r.Artifacts.URLs == nil {
		r.Artifacts.URLs = []string{}
	}
	if r.Artifacts.Attachments == nil {
		r.Artifacts.Attachments = []Attachment{}
	}
	if len(r.Artifacts.Keywords) == 0 {
		r.Artifacts.Keywords = keywordsOf(rs)
	}
	r.Verdict, r.Score = Judge(rs, p)
	return r
}

// keywordsOf takes the phrases from the data of an answered keywords
// result ({"keywords": [{"phrase": ...}, ...]}).
func keywordsOf(results []analyzers.Result) []string {
	for _, r := range results {
		if r.Analyzer != "keywords" || r.Status != analyzers.StatusOK || len(r.Data) == 0 {
			continue
		}
		var d struct {
			Keywords []struct {
				Phrase string `json:"phrase"`
			} `json:"keywords"`
		}
		if json.Unmarshal(r.Data, &d) != nil {
			return nil
		}
		var out []string
		for _, k := range d.Keywords {
			if k.Phrase != "" {
				out = append(out, k.Phrase)
			}
		}
		return out
	}
	return nil
}

// Judge computes the verdict and score of a set of results.
//
// The score is the sum of every symbol of every answered result. The verdict
// is the worst verdict any analyzer gave, raised by the score thresholds;
// when nothing found harm but a security analyzer did not answer, it is
// unknown: a failed check never reads as clean.
func Judge(results []analyzers.Result, p Policy) (analyzers.Verdict, float64) {
	verdict := analyzers.VerdictClean
	score := 0.0
	securityFailed := false
	for _, r := range results {
		if r.Status != analyzers.StatusOK {
			if p.Security[r.Analyzer] {
				securityFailed = true
			}
			continue
		}
		score += r.Score
		if r.Verdict == analyzers.VerdictUnknown {
			continue // an analyzer unsure of its own answer adds no judgement
		}
		if r.Verdict.Rank() > verdict.Rank() {
			verdict = r.Verdict
		}
	}
	t := p.Thresholds
	if t.Malicious > 0 && score >= t.Malicious {
		verdict = analyzers.VerdictMalicious
	} else if t.Suspicious > 0 && score >= t.Suspicious && verdict.Rank() < analyzers.VerdictSuspicious.Rank() {
		verdict = analyzers.VerdictSuspicious
	}
	if securityFailed && verdict == analyzers.VerdictClean {
		verdict = analyzers.VerdictUnknown
	}
	return verdict, score
}

// TopLabels names the strongest findings of a report, for one-line views:
// the symbols with the highest scores, and every failed analyzer.
func (r *Report) TopLabels(n int) []string {
	type label struct {
		name  string
		score float64
	}
	var ls []label
	for _, res := range r.Results {
		if res.Status != analyzers.StatusOK {
			ls = append(ls, label{res.Analyzer + ":" + string(res.Status), 1e9})
			continue
		}
		for _, s := range res.Symbols {
			ls = append(ls, label{s.Name, s.Score})
		}
	}
	slices.SortStableFunc(ls, func(a, b label) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	out := make([]string, 0, n)
	for i := 0; i < len(ls) && i < n; i++ {
		out = append(out, ls[i].name)
	}
	return out
}
