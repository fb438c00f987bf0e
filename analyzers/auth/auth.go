// Package auth is the built-in analyzer of sender authentication: it reads
// the SPF, DKIM, DMARC and ARC results that your own mail servers wrote
// into Authentication-Results and ARC-Authentication-Results fields (RFC
// 8601, 8617), trusting only the servers named in its config, verifies
// DKIM signatures itself, and evaluates DMARC alignment of the From domain
// against the verified signatures and the trusted SPF result. DNS goes
// through a configurable resolver with a cache.
package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/analyzers"
)

// Name is the analyzer's name in configs and reports.
const Name = "auth"

// Symbols.
const (
	SPFFail       = "AUTH_SPF_FAIL"
	SPFSoftfail   = "AUTH_SPF_SOFTFAIL"
	SPFPermerror  = "AUTH_SPF_PERMERROR"
	SPFNone       = "AUTH_SPF_NONE"
	DKIMValid     = "DKIM_VALID"
	DKIMInvalid   = "DKIM_INVALID"
	DKIMPermerror = "DKIM_PERMERROR"
	DKIMNone      = "DKIM_NONE"
	DMARCPass     = "DMARC_PASS"
	DMARCReject   = "DMARC_POLICY_REJECT"
	DMARCQuar     = "DMARC_POLICY_QUARANTINE"
	DMARCNone     = "DMARC_POLICY_NONE"
	DMARCNA       = "DMARC_NA"
	DMARCPermerr  = "DMARC_PERMERROR"
	DMARCARC      = "DMARC_FAIL_ARC_PASS"
	ARCFail       = "AUTH_ARC_FAIL"
	CompAuthFail  = "AUTH_COMPAUTH_FAIL"
	Untrusted     = "AUTH_RESULTS_UNTRUSTED"
)

// defaultScores: a DMARC failure under a reject policy is suspicious alone;
// a missing DMARC record never is (legitimate senders often lack one).
var defaultScores = map[string]float64{
	SPFFail:       3,
	SPFSoftfail:   1.5,
	SPFPermerror:  1,
	SPFNone:       0.5,
	DKIMValid:     0,
	DKIMInvalid:   2,
	DKIMPermerror: 1,
	DKIMNone:      0,
	DMARCPass:     0,
	DMARCReject:   8,
	DMARCQuar:     6,
	DMARCNone:     2,
	DMARCNA:       1,
	DMARCPermerr:  1,
	DMARCARC:      1,
	ARCFail:       2,
	CompAuthFail:  4,
	Untrusted:     0,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// AuthservIDs are the authserv-ids of your own mail servers: only
	// Authentication-Results and ARC-Authentication-Results fields naming
	// one of them are read. Anything else in a message was written by
	// whoever sent it.
	AuthservIDs []string `yaml:"authserv_ids"`
	// TrustUnnamed trusts the topmost Authentication-Results field when it
	// has no authserv-id, as Microsoft 365 writes it. Only for mail that
	// reaches the POP3 mailbox through such a service.
	TrustUnnamed bool `yaml:"trust_unnamed"`
	// VerifyDKIM verifies DKIM signatures here; false takes the dkim
	// results of the trusted fields instead.
	VerifyDKIM bool `yaml:"verify_dkim"`
	// DMARC evaluates DMARC here (DKIM verified here, SPF from the trusted
	// fields); false takes the dmarc result of the trusted fields instead.
	DMARC bool `yaml:"dmarc"`
	// Resolver is the DNS server ("host:port") for DKIM keys and DMARC
	// records; empty uses the system's.
	Resolver string `yaml:"resolver"`
	// DNSTimeout bounds one DNS query.
	DNSTimeout time.Duration `yaml:"dns_timeout"`
	// CacheTTL is how long answers are kept, found or not; CacheSize how
	// many names.
	CacheTTL  time.Duration `yaml:"cache_ttl"`
	CacheSize int           `yaml:"cache_size"`
	// Suspicious and Malicious are the score thresholds of the verdict;
	// 0 turns a level off.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		VerifyDKIM: true, DMARC: true,
		DNSTimeout: 5 * time.Second, CacheTTL: 10 * time.Minute, CacheSize: 10000,
		Suspicious: 5, Malicious: 15,
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Network:  true,
		Doc:      "SPF/DKIM/DMARC/ARC: trusted Authentication-Results, DKIM verified, DMARC alignment",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c, nil) }),
	})
}

// Analyzer checks sender authentication. It is safe for concurrent use.
type Analyzer struct {
	cfg     Config
	scores  map[string]float64
	trusted map[string]bool
	dns     Resolver
}

// New builds the analyzer. A nil resolver means the one the config names,
// behind a cache.
func New(cfg Config, r Resolver) (*Analyzer, error) {
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	if cfg.DNSTimeout <= 0 || cfg.CacheTTL < 0 || cfg.CacheSize < 1 {
		return nil, fmt.Errorf("dns_timeout must be positive, cache_ttl not negative, cache_size at least 1")
	}
	if len(cfg.AuthservIDs) == 0 && !cfg.TrustUnnamed && !cfg.VerifyDKIM && !cfg.DMARC {
		return nil, errors.New("nothing to check: give authserv_ids, or turn on verify_dkim or dmarc")
	}
	a := &Analyzer{cfg: cfg, scores: scores, trusted: map[string]bool{}}
	for _, id := range cfg.AuthservIDs {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" {
			return nil, errors.New("authserv_ids: empty id")
		}
		a.trusted[id] = true
	}
	if r == nil {
		r = NewCache(NewResolver(cfg.Resolver, cfg.DNSTimeout), cfg.CacheTTL, cfg.CacheSize)
	}
	a.dns = r
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// Data is the analyzer's result data.
type Data struct {
	// Trusted are the trusted fields read, topmost first; Ignored names
	// the authserv-ids of the fields that were not trusted.
	Trusted []Results `json:"trusted"`
	Ignored []string  `json:"ignored,omitempty"`
	// SPF, DKIM, DMARC and ARC are the outcomes the symbols were decided
	// on.
	SPF   *SPF   `json:"spf,omitempty"`
	DKIM  []DKIM `json:"dkim"`
	DMARC *DMARC `json:"dmarc,omitempty"`
	ARC   string `json:"arc,omitempty"`
}

// SPF is the SPF result of the trusted fields.
type SPF struct {
	Result   string `json:"result"`
	MailFrom string `json:"mailfrom,omitempty"` // the domain checked
}

// DKIM is one signature's outcome.
type DKIM struct {
	Domain string `json:"domain"`
	Result string `json:"result"` // pass, fail, permerror (from a trusted field: as written)
	Error  string `json:"error,omitempty"`
	Source string `json:"source"` // "verified" here, or "trusted" field
}

// DMARC is the DMARC evaluation of the From domain.
type DMARC struct {
	Domain  string `json:"domain"`
	Result  string `json:"result"` // pass, fail, none (no record), permerror
	Policy  string `json:"policy,omitempty"`
	Record  string `json:"record_domain,omitempty"` // where the record was found
	DKIM    bool   `json:"aligned_dkim"`
	SPF     bool   `json:"aligned_spf"`
	Source  string `json:"source"`
	Comment string `json:"comment,omitempty"`
}

// Analyze returns an error when a DNS answer needed for DKIM or DMARC is
// temporarily unavailable: trying again later may help.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var r analyzers.Result
	var d Data
	d.DKIM = []DKIM{}
	d.Trusted, d.Ignored = a.trustedResults(m)
	if len(d.Ignored) > 0 {
		r.Add(Untrusted, a.scores[Untrusted], d.Ignored...)
	}
	first := func(method string) *MethodResult {
		for i := range d.Trusted {
			if mr := d.Trusted[i].Get(method); mr != nil {
				return mr
			}
		}
		return nil
	}

	if mr := first("spf"); mr != nil {
		d.SPF = &SPF{Result: mr.Result, MailFrom: domainOf(mr.Props["smtp.mailfrom"])}
		if d.SPF.MailFrom == "" {
			d.SPF.MailFrom = strings.ToLower(mr.Props["smtp.helo"])
		}
		switch mr.Result {
		case "fail":
			r.Add(SPFFail, a.scores[SPFFail], d.SPF.MailFrom)
		case "softfail":
			r.Add(SPFSoftfail, a.scores[SPFSoftfail], d.SPF.MailFrom)
		case "permerror":
			r.Add(SPFPermerror, a.scores[SPFPermerror], d.SPF.MailFrom)
		case "none":
			r.Add(SPFNone, a.scores[SPFNone], d.SPF.MailFrom)
		}
	}

	if a.cfg.VerifyDKIM {
		sigs, err := a.verifyDKIM(ctx, m)
		if err != nil {
			return analyzers.Result{}, err
		}
		d.DKIM = sigs
	} else {
		for i := range d.Trusted {
			for _, mr := range d.Trusted[i].Methods {
				if mr.Method == "dkim" {
					d.DKIM = append(d.DKIM, DKIM{Domain: strings.ToLower(mr.Props["header.d"]), Result: mr.Result, Source: "trusted"})
				}
			}
		}
	}
	a.dkimSymbols(&r, d.DKIM)

	arc := first("arc")
	if arc != nil {
		d.ARC = arc.Result
		if arc.Result == "fail" {
			r.Add(ARCFail, a.scores[ARCFail])
		}
	}
	if mr := first("compauth"); mr != nil && mr.Result == "fail" {
		r.Add(CompAuthFail, a.scores[CompAuthFail], "reason="+mr.Reason)
	}

	if a.cfg.DMARC {
		dm, err := a.evaluateDMARC(ctx, m, d.DKIM, d.SPF)
		if err != nil {
			return analyzers.Result{}, err
		}
		d.DMARC = dm
	} else if mr := first("dmarc"); mr != nil {
		d.DMARC = &DMARC{Domain: domainOf(mr.Props["header.from"]), Result: mr.Result, Policy: strings.ToLower(mr.Props["policy.published-domain-policy"]), Source: "trusted"}
		if p := strings.ToLower(mr.Props["action"]); d.DMARC.Policy == "" && p != "" {
			d.DMARC.Comment = "action=" + p
		}
		if d.DMARC.Domain == "" {
			d.DMARC.Domain = strings.ToLower(mr.Props["header.from"])
		}
	}
	if d.DMARC != nil {
		a.dmarcSymbols(&r, d.DMARC, d.ARC == "pass")
	}

	r.Verdict = a.verdict(r.Score)
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

func (a *Analyzer) verdict(score float64) analyzers.Verdict {
	return analyzers.ScoreVerdict(score, a.cfg.Suspicious, a.cfg.Malicious)
}

// trustedResults reads the Authentication-Results and
// ARC-Authentication-Results fields in header order (topmost, the last
// added, first) and keeps those of trusted servers. An unnamed field is
// trusted only as the topmost Authentication-Results, where the last hop
// before the mailbox put it.
func (a *Analyzer) trustedResults(m *analyzers.Message) (trusted []Results, ignored []string) {
	firstAR := true
	for _, f := range m.Header.Fields {
		arc := strings.EqualFold(f.Key, "ARC-Authentication-Results")
		if !arc && !strings.EqualFold(f.Key, "Authentication-Results") {
			continue
		}
		res := ParseResults(f.Value, arc)
		topmost := !arc && firstAR
		if !arc {
			firstAR = false
		}
		switch {
		case res.AuthServID != "" && a.trusted[res.AuthServID]:
			trusted = append(trusted, res)
		case res.AuthServID == "" && a.cfg.TrustUnnamed && topmost:
			trusted = append(trusted, res)
		default:
			id := res.AuthServID
			if id == "" {
				id = "(no authserv-id)"
			}
			if !slices.Contains(ignored, id) {
				ignored = append(ignored, id)
			}
		}
	}
	// ARC fields of trusted servers come with their own instance numbers;
	// the newest (highest) instance is the most recent.
	slices.SortStableFunc(trusted, func(x, y Results) int { return y.Instance - x.Instance })
	return trusted, ignored
}

// maxSignatures bounds the DKIM signatures verified per message: each
// costs a DNS lookup and a hash of the body.
const maxSignatures = 8

func (a *Analyzer) verifyDKIM(ctx context.Context, m *analyzers.Message) ([]DKIM, error) {
	opts := &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return a.dns.LookupTXT(ctx, name) },
		MaxVerifications: maxSignatures,
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Raw), opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// The header itself could not be read; no signature was checked.
		return []DKIM{{Result: "permerror", Error: err.Error(), Source: "verified"}}, nil
	}
	out := []DKIM{}
	for _, v := range vs {
		s := DKIM{Domain: strings.ToLower(v.Domain), Result: "pass", Source: "verified"}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			return nil, fmt.Errorf("auth: DKIM key of %s: %w", v.Domain, v.Err)
		case dkim.IsPermFail(v.Err):
			s.Result, s.Error = "permerror", v.Err.Error()
		default:
			s.Result, s.Error = "fail", v.Err.Error()
		}
		out = append(out, s)
	}
	return out, nil
}

func (a *Analyzer) dkimSymbols(r *analyzers.Result, sigs []DKIM) {
	var valid, invalid, perm []string
	for _, s := range sigs {
		switch s.Result {
		case "pass":
			valid = append(valid, s.Domain)
		case "fail":
			invalid = append(invalid, s.Domain)
		case "none", "neutral":
		default:
			perm = append(perm, s.Domain)
		}
	}
	if len(valid) > 0 {
		r.Add(DKIMValid, a.scores[DKIMValid], valid...)
	}
	// A valid signature outweighs broken ones: lists and forwarders add
	// and break signatures all the time.
	if len(valid) == 0 && len(invalid) > 0 {
		r.Add(DKIMInvalid, a.scores[DKIMInvalid], invalid...)
	}
	if len(valid) == 0 && len(invalid) == 0 && len(perm) > 0 {
		r.Add(DKIMPermerror, a.scores[DKIMPermerror], perm...)
	}
	if len(sigs) == 0 {
		r.Add(DKIMNone, a.scores[DKIMNone])
	}
}

// evaluateDMARC applies RFC 7489 to the first From address's domain.
func (a *Analyzer) evaluateDMARC(ctx context.Context, m *analyzers.Message, sigs []DKIM, spf *SPF) (*DMARC, error) {
	if len(m.Header.From) != 1 {
		return &DMARC{Result: "permerror", Source: "evaluated", Comment: fmt.Sprintf("%d From addresses; DMARC needs exactly one", len(m.Header.From))}, nil
	}
	from := domainOf(m.Header.From[0].Address)
	if from == "" {
		return &DMARC{Result: "permerror", Source: "evaluated", Comment: "From address without a domain"}, nil
	}
	d := &DMARC{Domain: from, Source: "evaluated"}
	org := analyzers.RegisteredDomain(from)
	rec, where, err := a.lookupDMARC(ctx, from)
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, where, err = a.lookupDMARC(ctx, org)
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		d.Result = "none"
		return d, nil
	case dmarc.IsTempFail(err):
		return nil, fmt.Errorf("auth: DMARC record of %s: %w", from, err)
	case err != nil:
		d.Result, d.Comment = "permerror", err.Error()
		return d, nil
	}
	d.Record = where
	d.Policy = string(rec.Policy)
	if where != from && rec.SubdomainPolicy != "" {
		d.Policy = string(rec.SubdomainPolicy)
	}
	for _, s := range sigs {
		if s.Result == "pass" && aligned(s.Domain, from, rec.DKIMAlignment == dmarc.AlignmentStrict) {
			d.DKIM = true
		}
	}
	if spf != nil && spf.Result == "pass" && aligned(spf.MailFrom, from, rec.SPFAlignment == dmarc.AlignmentStrict) {
		d.SPF = true
	}
	d.Result = "fail"
	if d.DKIM || d.SPF {
		d.Result = "pass"
	}
	return d, nil
}

func (a *Analyzer) lookupDMARC(ctx context.Context, domain string) (*dmarc.Record, string, error) {
	rec, err := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{
		LookupTXT: func(name string) ([]string, error) { return a.dns.LookupTXT(ctx, name) },
	})
	return rec, domain, err
}

func (a *Analyzer) dmarcSymbols(r *analyzers.Result, d *DMARC, arcPass bool) {
	opt := d.Domain
	switch d.Result {
	case "pass":
		r.Add(DMARCPass, a.scores[DMARCPass], opt)
	case "none":
		r.Add(DMARCNA, a.scores[DMARCNA], opt)
	case "permerror", "temperror":
		r.Add(DMARCPermerr, a.scores[DMARCPermerr], opt)
	case "fail":
		if arcPass {
			// Forwarded or list mail whose earlier hops vouch for it
			// (trusted arc=pass) fails DMARC by being forwarded.
			r.Add(DMARCARC, a.scores[DMARCARC], opt)
			return
		}
		switch d.Policy {
		case "reject":
			r.Add(DMARCReject, a.scores[DMARCReject], opt)
		case "quarantine":
			r.Add(DMARCQuar, a.scores[DMARCQuar], opt)
		default:
			r.Add(DMARCNone, a.scores[DMARCNone], opt)
		}
	}
}

// aligned says whether a DKIM or SPF domain is aligned with the From
// domain: equal in strict mode, the same organisational domain in relaxed.
func aligned(domain, from string, strict bool) bool {
	if domain == "" {
		return false
	}
	if strict {
		return domain == from
	}
	return analyzers.RegisteredDomain(domain) == analyzers.RegisteredDomain(from)
}

// domainOf is the lower-case domain of an address or of a bare domain.
func domainOf(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "<>")
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	return strings.TrimSuffix(strings.ToLower(s), ".")
}
