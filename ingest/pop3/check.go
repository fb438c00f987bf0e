package pop3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// Step is one stage of Check: what was tried, whether it worked, what was
// seen, and on failure the fix most likely to help.
type Step struct {
	Name   string
	OK     bool
	Detail string
	Fix    string
}

// Check walks through a connection the way a person would with openssl
// s_client: connect, TLS handshake and certificate, greeting, CAPA,
// authentication (when creds is not nil), STAT, LIST and UIDL, and QUIT. It
// calls step after each stage and stops at the first failure, returning it.
// It never deletes anything.
func Check(ctx context.Context, cfg Config, creds *Credentials, step func(Step)) error {
	if cfg.TLS == "" {
		cfg.TLS = TLSImplicit
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 20 * time.Second
	}
	addr, host, err := normalizeAddr(cfg.Addr, cfg.TLS)
	if err != nil {
		step(Step{Name: "address", Detail: err.Error()})
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	fail := func(name string, err error, fix string) error {
		step(Step{Name: name, Detail: err.Error(), Fix: fix})
		return err
	}

	// 1. TCP: is anything listening?
	start := time.Now()
	conn, err := (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("connect", err, connectFix(err, port))
	}
	step(Step{Name: "connect", OK: true, Detail: fmt.Sprintf("%s (%s) in %s", addr, conn.RemoteAddr(), time.Since(start).Round(time.Millisecond))})

	// 2. Implicit TLS: handshake on its own, so its failure is told apart
	// from the protocol's.
	if cfg.TLS == TLSImplicit {
		tc, err := cfg.tlsConfig(host)
		if err != nil {
			conn.Close()
			return fail("tls", err, "check --ca-file")
		}
		t := tls.Client(conn, tc)
		t.SetDeadline(time.Now().Add(cfg.DialTimeout))
		err = t.HandshakeContext(ctx)
		if err != nil {
			t.Close()
			return fail("tls", err, tlsFix(err, port, cfg.TLS))
		}
		st := t.ConnectionState()
		step(Step{Name: "tls", OK: true, Detail: describeTLS(&st)})
		t.Close()
	} else {
		conn.Close()
	}

	// 3. The session proper: greeting, CAPA, STLS.
	c, err := Dial(ctx, cfg)
	if err != nil {
		name := "greeting"
		if cfg.TLS == TLSStartTLS && (strings.Contains(err.Error(), "STLS") || isTLSFailure(err)) {
			name = "stls"
		}
		return fail(name, err, sessionFix(err, port, cfg.TLS))
	}
	defer c.Close()
	step(Step{Name: "greeting", OK: true, Detail: strings.TrimSpace("+OK " + c.Greeting())})
	if cfg.TLS == TLSStartTLS {
		step(Step{Name: "stls", OK: true, Detail: describeTLS(c.TLSConnectionState())})
	}
	step(Step{Name: "capa", OK: true, Detail: describeCaps(c.Capabilities())})

	if creds == nil {
		step(Step{Name: "auth", OK: true, Detail: "skipped: no --user given"})
		_ = c.Quit(ctx)
		return nil
	}
	// 4. Authentication.
	if err := c.Auth(ctx, *creds); err != nil {
		return fail("auth", err, authFix(err, cfg.TLS))
	}
	step(Step{Name: "auth", OK: true, Detail: "logged in as " + creds.Username})

	// 5. The maildrop.
	n, size, err := c.Stat(ctx)
	if err != nil {
		return fail("stat", err, "")
	}
	step(Step{Name: "stat", OK: true, Detail: fmt.Sprintf("%d messages, %d bytes", n, size)})
	list, err := c.List(ctx)
	if err != nil {
		return fail("list", err, "")
	}
	var largest int64
	for _, m := range list {
		largest = max(largest, m.Size)
	}
	step(Step{Name: "list", OK: true, Detail: fmt.Sprintf("%d messages listed, largest %d bytes", len(list), largest)})
	uids, err := c.UIDL(ctx)
	if err != nil {
		return fail("uidl", err, "without UIDL mailsift identifies mail by a digest of its header; prefer a server with UIDL")
	}
	sample := ""
	if len(uids) > 0 {
		sample = fmt.Sprintf(", first %q", uids[0].UID)
	}
	step(Step{Name: "uidl", OK: true, Detail: fmt.Sprintf("%d unique ids%s", len(uids), sample)})
	if err := c.Quit(ctx); err != nil {
		return fail("quit", err, "")
	}
	step(Step{Name: "quit", OK: true, Detail: "session closed, nothing deleted"})
	return nil
}

func connectFix(err error, port string) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "the host name does not resolve; check the spelling or the DNS"
	case strings.Contains(err.Error(), "refused"):
		return "nothing listens on port " + port + "; POP3 uses 995 (implicit TLS) or 110 (plain or STLS)"
	case strings.Contains(err.Error(), "timeout"), errors.Is(err, context.DeadlineExceeded):
		return "no answer: a firewall may drop the connection, or the port is wrong"
	}
	return ""
}

func isTLSFailure(err error) bool {
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &rh) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cv) ||
		strings.Contains(err.Error(), "TLS handshake")
}

func tlsFix(err error, port string, mode TLSMode) string {
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &rh):
		if port == "110" {
			return "port 110 speaks plain POP3; use --tls starttls (or none on a trusted network)"
		}
		return "the server answered in plain text, not TLS; use --tls starttls or --tls none"
	case errors.As(err, &ua):
		return "the certificate is signed by a CA this machine does not trust; pass that CA with --ca-file"
	case errors.As(err, &he):
		return "the certificate is for another name; connect by that name or set the server name"
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			return "the certificate has expired (or this machine's clock is wrong)"
		}
		return "the certificate is not valid: " + ci.Error()
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timeout"):
		if mode == TLSImplicit && port == "110" {
			return "port 110 expects plain POP3 first; use --tls starttls"
		}
		return "the server did not complete the handshake; is this a TLS port?"
	}
	return ""
}

func sessionFix(err error, port string, mode TLSMode) string {
	switch {
	case errors.Is(err, ErrNotSupported) && mode == TLSStartTLS:
		return "the server does not offer STLS; use --tls implicit (port 995) if it has it"
	case isTLSFailure(err):
		return tlsFix(err, port, mode)
	case errors.Is(err, ErrTimeout) || errors.Is(err, ErrTruncated):
		if port == "995" && mode != TLSImplicit {
			return "port 995 expects implicit TLS; use --tls implicit"
		}
		return "the server sent no greeting; is this a POP3 port?"
	case errors.Is(err, ErrProtocol):
		if port == "995" && mode != TLSImplicit {
			return "port 995 expects implicit TLS; use --tls implicit"
		}
		return "this does not look like a POP3 server"
	}
	return ""
}

func authFix(err error, mode TLSMode) string {
	switch {
	case errors.Is(err, ErrPlaintext):
		return "the link is not encrypted: use --tls implicit or starttls, or --allow-plaintext if the network is trusted"
	case errors.Is(err, ErrAuth):
		return "check the user name and password; some providers need an app password or OAuth (--auth xoauth2)"
	case errors.Is(err, ErrInUse):
		return "another client holds the mailbox; stop it (fetchmail, a mail app) or wait"
	case errors.Is(err, ErrLoginDelay):
		return "the server limits how often you may log in; wait and try again"
	case errors.Is(err, ErrNotSupported):
		return "the server does not offer that method; try --auth auto"
	}
	return ""
}

func describeTLS(st *tls.ConnectionState) string {
	if st == nil {
		return "no TLS"
	}
	out := fmt.Sprintf("%s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	if len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		names := cert.DNSNames
		if len(names) == 0 {
			names = []string{cert.Subject.CommonName}
		}
		out += fmt.Sprintf("; certificate for %s, issued by %s, valid until %s", strings.Join(names, ","), cert.Issuer.CommonName, cert.NotAfter.UTC().Format("2006-01-02"))
	}
	return out
}

func describeCaps(caps map[string][]string) string {
	if len(caps) == 0 {
		return "server does not answer CAPA (an RFC 1939-only server)"
	}
	var out []string
	for k, v := range caps {
		if len(v) > 0 {
			k += " " + strings.Join(v, " ")
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
