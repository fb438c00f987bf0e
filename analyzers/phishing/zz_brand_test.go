package phishing

import "testing"

func TestZZBrand(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	for _, n := range []string{"The Quiet Ledger", "Ledger Support", "Ledger", "Apple Support", "Meta for Business", "Apple", "Chase Bank", "Microsoft account team", "Steam Support", "Jonas Berg (via SharePoint Online)"} {
		b := a.brandInName(n)
		name := ""
		if b != nil {
			name = b.name
		}
		t.Logf("%q -> %q", n, name)
	}
}
