//go:build eval

package phishing

import (
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/attachments"
	"github.com/mailsift/mailsift/analyzers/auth"
	"github.com/mailsift/mailsift/analyzers/headers"
	"github.com/mailsift/mailsift/analyzers/mime"
)

// evalScorers are the combinations the evaluation reports: phishing
// alone, auth alone, the two together (the figure the project set a goal
// for), and every local security analyzer plus auth, as a deployment runs
// them.
//
// auth runs as it would behind the mail service that received the
// corpus: it trusts that service's Authentication-Results (Microsoft 365's
// carry no authserv-id; a few messages came through Google or Proton) and,
// with no DNS here, takes their DKIM and DMARC results as written.
func evalScorers(t *testing.T) []evalScorer {
	t.Helper()
	// Each combination gets its own phishing analyzer with an empty
	// sender history, so that one run does not make the senders known to
	// the next.
	phish := func() *Analyzer {
		cfg := DefaultConfig()
		// The corpus replaced the honeypot's addresses with phishing@pot:
		// "pot" is the mailbox owner's own domain, not a sender's forgery.
		cfg.OwnDomains = []string{"pot"}
		p := mustNew(t, cfg)
		if err := p.Attach(t.Context(), analyzers.NewMemoryState()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	acfg := auth.DefaultConfig()
	acfg.TrustUnnamed = true
	acfg.AuthservIDs = []string{"mx.google.com", "mail.protonmail.ch", "mailin013.protonmail.ch", "mailin049.protonmail.ch"}
	acfg.VerifyDKIM, acfg.DMARC = false, false
	a, err := auth.New(acfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := headers.New(headers.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	att, err := attachments.New(attachments.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	mm, err := analyzers.New(mime.Name, analyzers.NoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []evalScorer{
		{name: "phishing", as: []analyzers.Analyzer{phish()}},
		{name: "auth", as: []analyzers.Analyzer{a}},
		{name: "phishing+auth", as: []analyzers.Analyzer{phish(), a}},
		{name: "local+auth", as: []analyzers.Analyzer{h, att, mm, phish(), a}},
	}
}
