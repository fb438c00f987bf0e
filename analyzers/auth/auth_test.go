package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/analyzers"
)

func TestParseResults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		arc  bool
		want Results
	}{
		{
			name: "RFC 8601 example",
			in:   "example.com; spf=pass smtp.mailfrom=example.net",
			want: Results{AuthServID: "example.com", Methods: []MethodResult{{Method: "spf", Result: "pass", Props: map[string]string{"smtp.mailfrom": "example.net"}}}},
		},
		{
			name: "version, comments, quoted reason, several methods",
			in:   `mx.example.org 1; dkim=pass (good signature) header.d=example.com header.s=sel reason="signature ok"; dmarc=fail (p=reject) header.from=example.com; arc=none`,
			want: Results{AuthServID: "mx.example.org", Methods: []MethodResult{
				{Method: "dkim", Result: "pass", Reason: "signature ok", Props: map[string]string{"header.d": "example.com", "header.s": "sel"}},
				{Method: "dmarc", Result: "fail", Props: map[string]string{"header.from": "example.com"}},
				{Method: "arc", Result: "none"},
			}},
		},
		{
			name: "Microsoft 365: no authserv-id, no blank after semicolons",
			in:   "spf=pass (sender IP is 66.179.17.183)\n smtp.mailfrom=bounce.example.com; dkim=pass (signature was verified)\n header.d=example.com;dmarc=pass action=none\n header.from=example.com;compauth=pass reason=100",
			want: Results{Methods: []MethodResult{
				{Method: "spf", Result: "pass", Props: map[string]string{"smtp.mailfrom": "bounce.example.com"}},
				{Method: "dkim", Result: "pass", Props: map[string]string{"header.d": "example.com"}},
				{Method: "dmarc", Result: "pass", Props: map[string]string{"action": "none", "header.from": "example.com"}},
				{Method: "compauth", Result: "pass", Reason: "100"},
			}},
		},
		{
			name: "no results",
			in:   "mx.example.org; none",
			want: Results{AuthServID: "mx.example.org"},
		},
		{
			name: "ARC-Authentication-Results with instance",
			in:   "i=2; mx.google.com; dkim=pass header.i=@example.com header.b=AbC+/=; spf=softfail smtp.mailfrom=x@y.example",
			arc:  true,
			want: Results{AuthServID: "mx.google.com", Instance: 2, Methods: []MethodResult{
				{Method: "dkim", Result: "pass", Props: map[string]string{"header.i": "@example.com", "header.b": "AbC+/"}},
				{Method: "spf", Result: "softfail", Props: map[string]string{"smtp.mailfrom": "x@y.example"}},
			}},
		},
		{
			name: "statements without semicolons and a method version",
			in:   "mx.example.org; dkim/1=pass header.d=a.example spf=fail smtp.mailfrom=b.example",
			want: Results{AuthServID: "mx.example.org", Methods: []MethodResult{
				{Method: "dkim", Result: "pass", Props: map[string]string{"header.d": "a.example"}},
				{Method: "spf", Result: "fail", Props: map[string]string{"smtp.mailfrom": "b.example"}},
			}},
		},
		{
			name: "garbage keeps what reads",
			in:   "((unclosed; = ; spf= ; dkim=pass",
			want: Results{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseResults(tt.in, tt.arc)
			if !equalResults(got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("ParseResults =\n %s\nwant\n %s", g, w)
			}
		})
	}
}

func equalResults(a, b Results) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// FuzzParseResults checks the parser on any field value: no panic, and
// every result it returns has a method and a result in lower case.
func FuzzParseResults(f *testing.F) {
	for _, s := range []string{
		"example.com; spf=pass smtp.mailfrom=example.net",
		"spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example;dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=a.example;compauth=fail reason=001",
		`mx 1; dkim=pass (a (nested) comment) reason="q\"uoted" header.b=abc==`,
		"i=1; mx.google.com; arc=pass (i=1 spf=pass spfdomain=x dkim=pass dkdomain=y dmarc=pass fromdomain=z)",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, v string, arc bool) {
		r := ParseResults(v, arc)
		if len(r.Methods) > maxMethods {
			t.Fatalf("%d methods", len(r.Methods))
		}
		for _, m := range r.Methods {
			if m.Method == "" || m.Result == "" || m.Method != strings.ToLower(m.Method) || m.Result != strings.ToLower(m.Result) {
				t.Fatalf("method %+v", m)
			}
		}
		if r.AuthServID != strings.ToLower(r.AuthServID) {
			t.Fatalf("authserv-id %q", r.AuthServID)
		}
	})
}

// signer holds a DKIM key published in the test DNS server.
type signer struct {
	domain, selector string
	key              ed25519.PrivateKey
}

func newSigner(t *testing.T, s *dnsServer, domain, selector string) signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.set(selector+"._domainkey."+domain, "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	return signer{domain: domain, selector: selector, key: key}
}

func (sg signer) sign(t *testing.T, raw string) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(raw), &dkim.SignOptions{
		Domain: sg.domain, Selector: sg.selector, Signer: sg.key,
		HeaderKeys: []string{"From", "To", "Subject", "Date"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func mail(from string, extra ...string) string {
	h := strings.Join(append(extra, "From: "+from, "To: kim@mailbox.example", "Subject: Quarterly figures",
		"Date: Tue, 24 Nov 2026 09:00:00 +0000", "Message-ID: <q4@example>"), "\r\n")
	return h + "\r\n\r\nThe figures are attached.\r\n"
}

func parse(t *testing.T, raw string) *analyzers.Message {
	t.Helper()
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func symbolNames(r analyzers.Result) []string {
	var out []string
	for _, s := range r.Symbols {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestAnalyze(t *testing.T) {
	s := startDNS(t)
	corp := newSigner(t, s, "corp.example", "s1")
	list := newSigner(t, s, "lists.example", "k")
	s.set("_dmarc.corp.example", "v=DMARC1; p=reject; adkim=r; aspf=r")
	s.set("_dmarc.bank.example", "v=DMARC1; p=quarantine; sp=reject")
	s.set("_dmarc.loose.example", "v=DMARC1; p=none")
	s.set("_dmarc.broken.example", "v=DMARC1; p=whatever")
	s.servfail["_dmarc.flaky.example."] = true

	tampered := strings.Replace(corp.sign(t, mail("ceo@corp.example")), "The figures are attached.", "Pay the invoice today.", 1)
	tests := []struct {
		name    string
		raw     string
		cfg     func(*Config)
		symbols []string
		verdict analyzers.Verdict
	}{
		{
			name:    "signed by the From domain under p=reject",
			raw:     corp.sign(t, mail("ceo@corp.example")),
			symbols: []string{DKIMValid, DMARCPass},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "subdomain signer is aligned in relaxed mode",
			raw:     corp.sign(t, mail("news@mail.corp.example")),
			symbols: []string{DKIMValid, DMARCPass},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "body changed after signing: DMARC fails under p=reject",
			raw:     tampered,
			symbols: []string{DKIMInvalid, DMARCReject},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "spoofed From, no signature",
			raw:     mail("ceo@corp.example"),
			symbols: []string{DKIMNone, DMARCReject},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "signed by another domain only: not aligned",
			raw:     list.sign(t, mail("ceo@corp.example")),
			symbols: []string{DKIMValid, DMARCReject},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "trusted SPF pass aligned makes DMARC pass without DKIM",
			raw:     mail("ceo@corp.example", "Authentication-Results: mx.mailbox.example; spf=pass smtp.mailfrom=bounce@corp.example"),
			cfg:     func(c *Config) { c.AuthservIDs = []string{"mx.mailbox.example"} },
			symbols: []string{DKIMNone, DMARCPass},
			verdict: analyzers.VerdictClean,
		},
		{
			name: "SPF pass written by the sender is not trusted",
			raw: mail("ceo@corp.example",
				"Authentication-Results: mx.mailbox.example; spf=fail smtp.mailfrom=corp.example",
				"Authentication-Results: evil.example; spf=pass smtp.mailfrom=corp.example; dmarc=pass"),
			cfg:     func(c *Config) { c.AuthservIDs = []string{"MX.mailbox.example"} },
			symbols: []string{DKIMNone, DMARCReject, SPFFail, Untrusted},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "no DMARC record is at most a small score",
			raw:     mail("someone@nodmarc.example"),
			symbols: []string{DKIMNone, DMARCNA},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "subdomain policy from the organisational record",
			raw:     mail("alerts@secure.bank.example"),
			symbols: []string{DKIMNone, DMARCReject},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "p=quarantine",
			raw:     mail("alerts@bank.example"),
			symbols: []string{DKIMNone, DMARCQuar},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "p=none",
			raw:     mail("a@loose.example"),
			symbols: []string{DKIMNone, DMARCNone},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "broken record",
			raw:     mail("a@broken.example"),
			symbols: []string{DKIMNone, DMARCPermerr},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "key not published",
			raw:     signer{domain: "corp.example", selector: "gone", key: corp.key}.sign(t, mail("ceo@corp.example")),
			symbols: []string{DKIMPermerror, DMARCReject},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "forwarded list mail: trusted arc=pass softens the DMARC failure",
			raw:     list.sign(t, mail("ceo@corp.example", "ARC-Authentication-Results: i=1; mx.mailbox.example; arc=pass; spf=fail smtp.mailfrom=lists.example")),
			cfg:     func(c *Config) { c.AuthservIDs = []string{"mx.mailbox.example"} },
			symbols: []string{DKIMValid, DMARCARC, SPFFail},
			verdict: analyzers.VerdictClean,
		},
		{
			name: "Microsoft 365 results trusted when unnamed, only the topmost",
			raw: mail("ceo@corp.example",
				"Authentication-Results: spf=softfail (sender IP is 192.0.2.1) smtp.mailfrom=corp.example; dkim=none; dmarc=fail action=quarantine header.from=corp.example;compauth=fail reason=001",
				"Authentication-Results: spf=pass smtp.mailfrom=corp.example"),
			cfg: func(c *Config) {
				c.TrustUnnamed, c.VerifyDKIM, c.DMARC = true, false, false
			},
			symbols: []string{CompAuthFail, DMARCNone, SPFSoftfail, Untrusted},
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name: "trusted fields only, no DNS: results taken as written",
			raw: mail("ceo@corp.example",
				"Authentication-Results: mx.mailbox.example; spf=pass smtp.mailfrom=corp.example; dkim=pass header.d=corp.example; dmarc=pass header.from=corp.example"),
			cfg: func(c *Config) {
				c.AuthservIDs, c.VerifyDKIM, c.DMARC = []string{"mx.mailbox.example"}, false, false
			},
			symbols: []string{DKIMValid, DMARCPass},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "two From addresses cannot pass DMARC",
			raw:     mail("a@corp.example, b@corp.example"),
			symbols: []string{DKIMNone, DMARCPermerr},
			verdict: analyzers.VerdictClean,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Resolver = s.addr
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			a, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := analyzers.Run(t.Context(), a, parse(t, tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.symbols)
			slices.Sort(want)
			if got := symbolNames(r); !slices.Equal(got, want) {
				t.Errorf("symbols %v, want %v (%+v)", got, want, r.Symbols)
			}
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s (score %.1f), want %s", r.Verdict, r.Score, tt.verdict)
			}
		})
	}
}

// TestDNSFailures checks that DNS answers that may come later (a server
// failure, no answer) make Analyze return an error the pipeline retries,
// never a result that reads as a pass.
func TestDNSFailures(t *testing.T) {
	s := startDNS(t)
	s.servfail["_dmarc.flaky.example."] = true
	s.silent["_dmarc.slow.example."] = true
	corp := newSigner(t, s, "corp.example", "s1")
	s.servfail["s1._domainkey.corp.example."] = true

	// A port nothing listens on: the server is down.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := pc.LocalAddr().String()
	pc.Close()

	tests := []struct {
		name, resolver, raw string
	}{
		{"SERVFAIL for the DMARC record", s.addr, mail("a@flaky.example")},
		{"no answer for the DMARC record", s.addr, mail("a@slow.example")},
		{"SERVFAIL for the DKIM key", s.addr, corp.sign(t, mail("a@corp.example"))},
		{"DNS server down", down, mail("a@corp.example")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Resolver = tt.resolver
			cfg.DNSTimeout = 300 * time.Millisecond
			a, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := a.Analyze(t.Context(), parse(t, tt.raw))
			if err == nil {
				t.Fatalf("no error; result %s %+v", r.Verdict, r.Symbols)
			}
			if !strings.Contains(err.Error(), "auth: ") {
				t.Errorf("error %q does not say where", err)
			}
		})
	}
}

func TestCache(t *testing.T) {
	s := startDNS(t)
	s.set("_dmarc.corp.example", "v=DMARC1; p=reject")
	s.servfail["_dmarc.flaky.example."] = true
	c := NewCache(NewResolver(s.addr, time.Second), time.Minute, 2)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if txt, err := c.LookupTXT(ctx, "_dmarc.corp.example"); err != nil || len(txt) != 1 {
			t.Fatalf("lookup = %v, %v", txt, err)
		}
		if _, err := c.LookupTXT(ctx, "_dmarc.missing.example"); !isNotFound(err) {
			t.Fatalf("missing name: %v", err)
		}
		if _, err := c.LookupTXT(ctx, "_dmarc.flaky.example"); err == nil || isNotFound(err) {
			t.Fatalf("servfail: %v", err)
		}
	}
	if n := s.count("_dmarc.corp.example"); n != 1 {
		t.Errorf("found name asked %d times, want 1", n)
	}
	if n := s.count("_dmarc.missing.example"); n != 1 {
		t.Errorf("missing name asked %d times, want 1 (negative answers are kept)", n)
	}
	if n := s.count("_dmarc.flaky.example"); n < 3 {
		t.Errorf("failing name asked %d times, want every time (failures are not kept)", n)
	}
	now = now.Add(2 * time.Minute)
	if _, err := c.LookupTXT(ctx, "_dmarc.corp.example"); err != nil {
		t.Fatal(err)
	}
	if n := s.count("_dmarc.corp.example"); n != 2 {
		t.Errorf("expired name asked %d times, want 2", n)
	}
	if _, err := c.LookupTXT(ctx, "_dmarc.other.example"); !isNotFound(err) {
		t.Fatal(err)
	}
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	if n > 2 {
		t.Errorf("cache holds %d names, want at most 2", n)
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return err != nil && asDNSError(err, &de) && de.IsNotFound
}

func asDNSError(err error, de **net.DNSError) bool {
	d, ok := err.(*net.DNSError)
	*de = d
	return ok
}

func TestData(t *testing.T) {
	s := startDNS(t)
	corp := newSigner(t, s, "corp.example", "s1")
	s.set("_dmarc.corp.example", "v=DMARC1; p=reject")
	cfg := DefaultConfig()
	cfg.Resolver = s.addr
	cfg.AuthservIDs = []string{"mx.mailbox.example"}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := corp.sign(t, mail("ceo@corp.example", "Authentication-Results: mx.mailbox.example; spf=pass smtp.mailfrom=bounce@corp.example"))
	r, err := a.Analyze(t.Context(), parse(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Trusted) != 1 || d.SPF == nil || d.SPF.MailFrom != "corp.example" || len(d.DKIM) != 1 || d.DKIM[0].Result != "pass" ||
		d.DMARC == nil || d.DMARC.Result != "pass" || !d.DMARC.DKIM || !d.DMARC.SPF || d.DMARC.Policy != "reject" {
		t.Errorf("data %s", r.Data)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"unknown symbol", func(c *Config) { c.Scores = map[string]float64{"NOPE": 1} }, "NOPE"},
		{"nothing to check", func(c *Config) { c.VerifyDKIM, c.DMARC = false, false }, "nothing to check"},
		{"empty id", func(c *Config) { c.AuthservIDs = []string{""} }, "authserv_ids"},
		{"zero timeout", func(c *Config) { c.DNSTimeout = 0 }, "dns_timeout"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.cfg(&cfg)
		if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	t := &testing.T{}
	_ = t
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r := mapResolver{
		"s1._domainkey.corp.example": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"_dmarc.corp.example":        {"v=DMARC1; p=reject"},
	}
	var out bytes.Buffer
	if err := dkim.Sign(&out, strings.NewReader(mail("ceo@corp.example")), &dkim.SignOptions{Domain: "corp.example", Selector: "s1", Signer: key}); err != nil {
		b.Fatal(err)
	}
	m, err := analyzers.Parse(out.Bytes(), analyzers.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(DefaultConfig(), r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Analyze(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// mapResolver answers from a map, for the benchmark: the cost measured is
// the analyzer's, not the network's.
type mapResolver map[string][]string

func (m mapResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := m[name]; ok {
		return txt, nil
	}
	return nil, fmt.Errorf("lookup %s: %w", name, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true})
}
