package auth

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer is a DNS server on loopback that answers TXT queries from a
// table, the way a domain's real servers would: unknown names get
// NXDOMAIN, names in servfail get SERVFAIL, names in silent get no answer.
type dnsServer struct {
	addr string

	mu       sync.Mutex
	txt      map[string][]string
	servfail map[string]bool
	silent   map[string]bool
	queries  map[string]int
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{
		addr: pc.LocalAddr().String(),
		txt:  map[string][]string{}, servfail: map[string]bool{}, silent: map[string]bool{}, queries: map[string]int{},
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("dns server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func (s *dnsServer) set(name string, txt ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[dns.Fqdn(name)] = txt
}

func (s *dnsServer) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dns.Fqdn(name)]
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries[name]++
	txt, found := s.txt[name]
	fail, silent := s.servfail[name], s.silent[name]
	s.mu.Unlock()
	if silent {
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	switch {
	case fail:
		resp.Rcode = dns.RcodeServerFailure
	case !found:
		resp.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT:
		for _, t := range txt {
			resp.Answer = append(resp.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
				Txt: chunks(t),
			})
		}
	}
	_ = w.WriteMsg(resp)
}

// chunks splits a TXT value into the 255-byte strings DNS carries.
func chunks(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
