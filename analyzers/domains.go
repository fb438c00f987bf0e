package analyzers

import "golang.org/x/net/publicsuffix"

// RegisteredDomain is the domain a host name was registered under: its
// public suffix and one label more ("mail.example.co.uk" gives
// "example.co.uk"). Mail authentication aligns on it and look-alike checks
// compare it; a name without a known suffix comes back as it is.
func RegisteredDomain(name string) string {
	if r, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return r
	}
	return name
}
