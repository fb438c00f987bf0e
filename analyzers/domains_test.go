package analyzers

import "testing"

func TestRegisteredDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.co.uk":    "example.co.uk",
		"example.com":           "example.com",
		"a.b.c.example.org":     "example.org",
		"foo.github.io":         "foo.github.io", // a private suffix: each user's site is its own
		"com":                   "com",
		"localhost":             "localhost",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
	} {
		if got := RegisteredDomain(in); got != want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
