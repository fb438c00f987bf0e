package auth

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Resolver looks up DNS TXT records.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// ("host:port"), or the system's servers when addr is empty, each query
// bounded by timeout.
func NewResolver(addr string, timeout time.Duration) Resolver {
	r := &net.Resolver{PreferGo: true}
	if addr != "" {
		var d net.Dialer
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	return &netResolver{r: r, timeout: timeout}
}

type netResolver struct {
	r       *net.Resolver
	timeout time.Duration
}

func (n *netResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if n.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.timeout)
		defer cancel()
	}
	return n.r.LookupTXT(ctx, name)
}

// Cache keeps the answers of a Resolver, found and not found, for ttl; a
// temporary failure is not kept. It holds at most size names.
type Cache struct {
	next Resolver
	ttl  time.Duration
	size int
	now  func() time.Time

	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	txt     []string
	missing bool
	expires time.Time
}

// NewCache wraps r with a cache.
func NewCache(r Resolver, ttl time.Duration, size int) *Cache {
	return &Cache{next: r, ttl: ttl, size: size, now: time.Now, m: map[string]cacheEntry{}}
}

// LookupTXT implements Resolver.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.mu.Lock()
	e, ok := c.m[name]
	if ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		if e.missing {
			return nil, notFound(name)
		}
		return e.txt, nil
	}
	c.mu.Unlock()

	txt, err := c.next.LookupTXT(ctx, name)
	var de *net.DNSError
	missing := errors.As(err, &de) && de.IsNotFound
	if err != nil && !missing {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		c.evict()
	}
	c.m[name] = cacheEntry{txt: txt, missing: missing, expires: c.now().Add(c.ttl)}
	if missing {
		return nil, notFound(name)
	}
	return txt, nil
}

// evict drops the expired entries, or if none is, the one closest to
// expiring.
func (c *Cache) evict() {
	now := c.now()
	var oldest string
	var at time.Time
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
			continue
		}
		if oldest == "" || e.expires.Before(at) {
			oldest, at = k, e.expires
		}
	}
	if len(c.m) >= c.size && oldest != "" {
		delete(c.m, oldest)
	}
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
