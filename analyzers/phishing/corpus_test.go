package phishing

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

// TestCorpus runs the analyzer over the labeled corpus in testdata: every
// message in phish/ must be suspicious or worse and carry the symbols
// named for it, every message in ham/ must stay clean.
func TestCorpus(t *testing.T) {
	want := map[string][]string{
		"p01-link-text-mismatch.eml":         {LinkTextMismatch, DisplayNameBrand, CredentialWords},
		"p02-ip-host.eml":                    {LinkIP, CredentialWords},
		"p03-punycode-lookalike.eml":         {LinkPunycode, LinkMixedScript, LinkLookalike},
		"p04-typosquat-brand.eml":            {FromLookalike, LinkLookalike},
		"p05-own-domain-lookalike.eml":       {FromLookalikeOwn, LinkLookalikeOwn},
		"p06-shortener-mailbox-full.eml":     {LinkShortener, CredentialWords},
		"p07-data-url.eml":                   {LinkData},
		"p08-javascript-link.eml":            {LinkScript},
		"p09-form-password.eml":              {Form, FormElsewhere, PasswordField},
		"p10-html-attachment.eml":            {HTMLAttachment, PasswordField},
		"p11-brand-name-freemail.eml":        {DisplayNameBrand, LinkHosted, CredentialWords},
		"p12-proofpoint-wrapped.eml":         {LinkTextMismatch, LinkBrandInHost},
		"p13-safelinks-wrapped-ip.eml":       {LinkIP},
		"p14-userinfo.eml":                   {LinkUserinfo, LinkIP, LinkTextMismatch},
		"p15-obfuscated-subject.eml":         {ObfuscatedHeader, DisplayNameBrand},
		"p16-forwarded-phish.eml":            {LinkTextMismatch, Forwarded},
		"p17-forwarded-inline-brand.eml":     {Forwarded, DisplayNameBrand, ReplyToFreemail},
		"p18-ceo-gift-cards-reply-gmail.eml": {InternalReplyOffsite, ReplyToFreemail, PaymentRequest},
	}
	a := mustNew(t, DefaultConfig())
	phish := corpusFiles(t, "testdata/phish")
	for _, f := range phish {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			r := analyze(t, a, f)
			if r.Verdict != analyzers.VerdictSuspicious && r.Verdict != analyzers.VerdictMalicious {
				t.Errorf("verdict %s (score %.1f), want suspicious or worse; symbols %v", r.Verdict, r.Score, r.Symbols)
			}
			syms, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			for _, s := range syms {
				if !hasSymbol(r, s) {
					t.Errorf("no %s; symbols %v", s, r.Symbols)
				}
			}
		})
	}
	if len(phish) != len(want) {
		t.Errorf("%d phishing files, %d expectations", len(phish), len(want))
	}
	for _, f := range corpusFiles(t, "testdata/ham") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := analyze(t, a, f)
			if r.Verdict != analyzers.VerdictClean {
				t.Errorf("verdict %s (score %.1f), want clean; symbols %v", r.Verdict, r.Score, r.Symbols)
			}
		})
	}
}

func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s: %v", dir, err)
	}
	return files
}

func analyze(t *testing.T, a analyzers.Analyzer, path string) analyzers.Result {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyzers.Run(t.Context(), a, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hasSymbol(r analyzers.Result, name string) bool {
	return slices.ContainsFunc(r.Symbols, func(s analyzers.Symbol) bool { return s.Name == name })
}

func symbolOptions(r analyzers.Result, name string) string {
	for _, s := range r.Symbols {
		if s.Name == name {
			return strings.Join(s.Options, " ")
		}
	}
	return ""
}

func mustNew(t testing.TB, cfg Config) *Analyzer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
