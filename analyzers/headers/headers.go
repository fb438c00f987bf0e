// Package headers is the built-in analyzer that scores a message's
// top-level header for the signs of forgery and of mail sent by scripts
// rather than mail clients: missing Date, Message-ID or From, a Date in the
// future, several From addresses, a Reply-To that leads to another domain,
// and a display name that shows one address while the mail comes from
// another.
package headers

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// Name is the analyzer's name in configs and reports.
const Name = "headers"

// Symbols and their default scores, in the spirit of rspamd's rules of the
// same names.
const (
	MissingDate      = "MISSING_DATE"
	InvalidDate      = "INVALID_DATE"
	MissingMessageID = "MISSING_MID"
	DateInFuture     = "DATE_IN_FUTURE"
	MissingFrom      = "MISSING_FROM"
	MultipleFrom     = "MULTIPLE_FROM"
	ReplyToMismatch  = "REPLYTO_DOM_NEQ_FROM_DOM"
	SpoofDisplayName = "SPOOF_DISPLAY_NAME"
)

// defaultScores are the scores of the symbols unless Config.Scores says
// otherwise. A display name spoof or several From addresses reach the
// default suspicious threshold alone; the sloppiness symbols only do
// together with something else.
var defaultScores = map[string]float64{
	MissingDate:      1,
	InvalidDate:      1.5,
	MissingMessageID: 2.5,
	DateInFuture:     4,
	MissingFrom:      2,
	MultipleFrom:     5,
	ReplyToMismatch:  3,
	SpoofDisplayName: 6,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// Suspicious and Malicious are the score thresholds of the verdict;
	// 0 turns a level off.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// FutureSkew is how far ahead of this machine's clock a Date may be
	// before DATE_IN_FUTURE: senders' clocks drift, and time zones are
	// often written wrong.
	FutureSkew time.Duration `yaml:"future_skew"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{Suspicious: 5, Malicious: 15, FutureSkew: 24 * time.Hour}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Doc:      "header forgery signs: missing Date/Message-ID/From, future Date, Reply-To and display-name spoofing",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
	})
}

// Analyzer checks headers. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	scores map[string]float64
	now    func() time.Time
}

// New builds the analyzer, rejecting scores for symbols it does not have
// so that a typo in the config is not silently ignored.
func New(cfg Config) (*Analyzer, error) {
	if cfg.FutureSkew < 0 {
		return nil, fmt.Errorf("future_skew %v is negative", cfg.FutureSkew)
	}
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	return &Analyzer{cfg: cfg, scores: scores, now: time.Now}, nil
}

func (a *Analyzer) Name() string { return Name }

// Data is what the analyzer reports in a result's data: the header facts
// the symbols were decided on.
type Data struct {
	From          []string `json:"from"`
	FromDomain    string   `json:"from_domain,omitempty"`
	ReplyTo       []string `json:"reply_to,omitempty"`
	ReplyToDomain string   `json:"reply_to_domain,omitempty"`
	Date          string   `json:"date,omitempty"`
	MessageID     string   `json:"message_id,omitempty"`
}

// Analyze never fails: every message has a header, if an empty one.
func (a *Analyzer) Analyze(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var r analyzers.Result
	h := &m.Header
	d := Data{From: addrs(h.From), ReplyTo: addrs(h.ReplyTo), MessageID: h.MessageID}

	switch {
	case h.DateRaw == "":
		r.Add(MissingDate, a.scores[MissingDate])
	case h.Date.IsZero():
		r.Add(InvalidDate, a.scores[InvalidDate], h.DateRaw)
	default:
		d.Date = h.Date.UTC().Format(time.RFC3339)
		if ahead := h.Date.Sub(a.now()); ahead > a.cfg.FutureSkew {
			r.Add(DateInFuture, a.scores[DateInFuture], d.Date)
		}
	}
	if h.MessageID == "" {
		r.Add(MissingMessageID, a.scores[MissingMessageID])
	}

	switch {
	case len(h.From) == 0:
		var opts []string
		if raw := h.Get("From"); raw != "" {
			opts = append(opts, "unparseable: "+raw)
		}
		r.Add(MissingFrom, a.scores[MissingFrom], opts...)
	case len(h.From) > 1:
		r.Add(MultipleFrom, a.scores[MultipleFrom], d.From...)
	}

	if len(h.From) > 0 {
		from := h.From[0]
		d.FromDomain = orgDomain(from.Address)
		list := listDomains(h)
		for _, rt := range h.ReplyTo {
			if dom := orgDomain(rt.Address); dom != "" && d.FromDomain != "" && dom != d.FromDomain && !list[dom] {
				d.ReplyToDomain = dom
				r.Add(ReplyToMismatch, a.scores[ReplyToMismatch], "from="+d.FromDomain, "reply-to="+dom)
				break
			}
		}
		for _, f := range h.From {
			if shown := addressInName(f); shown != "" {
				r.Add(SpoofDisplayName, a.scores[SpoofDisplayName], "shown="+shown, "from="+f.Address)
				break
			}
		}
	}

	r.Verdict = analyzers.ScoreVerdict(r.Score, a.cfg.Suspicious, a.cfg.Malicious)
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

func addrs(list []*mail.Address) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}

// listDomains are the registered domains of the mailing list a message
// came through, as its Sender and List-Post name them: a list sets Reply-To
// to itself so that answers go to every member, which is no mismatch. Only
// mail that says it is list mail (List-Id or List-Post) has them.
func listDomains(h *analyzers.Header) map[string]bool {
	if h.Get("List-Id") == "" && h.Get("List-Post") == "" {
		return nil
	}
	out := map[string]bool{}
	if s, err := mail.ParseAddress(h.Get("Sender")); err == nil {
		out[orgDomain(s.Address)] = true
	}
	post := strings.TrimSpace(h.Get("List-Post"))
	if i := strings.Index(strings.ToLower(post), "mailto:"); i >= 0 {
		addr, _, _ := strings.Cut(post[i+len("mailto:"):], ">")
		addr, _, _ = strings.Cut(addr, "?")
		out[orgDomain(addr)] = true
	}
	delete(out, "")
	return out
}

// orgDomain is the registered domain of an address ("shop.example.co.uk"
// for "news@mail.shop.example.co.uk"), so mail from a company's own
// subdomains does not count as a mismatch.
func orgDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return analyzers.RegisteredDomain(strings.ToLower(strings.TrimSuffix(addr[at+1:], ".")))
}

var emailInText = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)

// addressInName returns the address written in a display name when it is
// not the address the mail is from: `"support@bank.example"
// <x@elsewhere.example>` shows the reader one sender and is another.
func addressInName(a *mail.Address) string {
	if !strings.Contains(a.Name, "@") {
		return ""
	}
	for _, shown := range emailInText.FindAllString(a.Name, -1) {
		if !strings.EqualFold(shown, a.Address) {
			return strings.ToLower(shown)
		}
	}
	return ""
}
