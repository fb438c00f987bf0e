package analyzers

import (
	"fmt"
	"sort"
	"sync"
)

// Options decodes an analyzer's section of the config into a struct the
// analyzer owns. Decoding is strict: an unknown key is an error that names
// its line. An absent section decodes to nothing, leaving the defaults the
// analyzer set before calling Decode.
type Options interface {
	Decode(v any) error
}

// Registration describes a kind of analyzer to the registry.
type Registration struct {
	Name string
	// Security marks analyzers whose failure leaves a message's safety
	// unknown: a report whose security check failed is never "clean".
	Security bool
	// Network marks analyzers that need something beyond this process (a
	// daemon, an API). `mailsift demo` and the default `scan` leave them out.
	Network bool
	// Doc is one line for `mailsift scan --help` and the docs.
	Doc string
	New func(Options) (Analyzer, error)
}

// The registry is the one piece of package-level state in mailsift: built-in
// analyzers add themselves from init, the way database/sql drivers do, so
// that the binary's imports alone decide what is available.
var (
	registryMu sync.RWMutex
	registry   = map[string]Registration{}
)

// Register makes an analyzer available by name. It panics on a duplicate
// name, since that can only be a build mistake.
func Register(r Registration) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if r.Name == "" || r.New == nil {
		panic("analyzers: Register needs a name and a constructor")
	}
	if _, dup := registry[r.Name]; dup {
		panic("analyzers: duplicate registration of " + r.Name)
	}
	registry[r.Name] = r
}

// Lookup returns the registration of the named analyzer.
func Lookup(name string) (Registration, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Registered lists every registration, sorted by name.
func Registered() []Registration {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Registration, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New builds the named analyzer from its options.
func New(name string, opts Options) (Analyzer, error) {
	r, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("analyzer %q is not known (known: %s)", name, knownNames())
	}
	a, err := r.New(opts)
	if err != nil {
		return nil, fmt.Errorf("analyzer %s: %w", name, err)
	}
	return a, nil
}

func knownNames() string {
	s := ""
	for i, r := range Registered() {
		if i > 0 {
			s += ", "
		}
		s += r.Name
	}
	return s
}

// NoOptions is the Options of an analyzer configured with nothing: every
// field keeps its default.
type NoOptions struct{}

func (NoOptions) Decode(any) error { return nil }
