package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TLSMode says how a connection is protected.
type TLSMode string

const (
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (port 995)
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STLS (RFC 2595); fails if not offered
	TLSNone     TLSMode = "none"     // no TLS at all
)

// Default timeouts and pipeline depth, used for zero Config fields.
const (
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	DefaultPipeline       = 32
)

// Config says where and how to connect.
type Config struct {
	// Addr is "host:port" or "host"; the port defaults to 995 with
	// implicit TLS and to 110 otherwise.
	Addr string
	// TLS defaults to TLSImplicit.
	TLS TLSMode
	// ServerName is the name the certificate must carry; default: Addr's host.
	ServerName string
	// CAFile names a PEM file of CAs trusted in addition to the system's.
	CAFile string
	// InsecureSkipVerify accepts any certificate. It logs a warning on
	// every Dial: it is for tests and for the odd appliance, not a default.
	InsecureSkipVerify bool
	// TLSConfig, when set, is the base for the TLS settings above (they
	// override its fields when non-zero). It is cloned, never modified.
	TLSConfig *tls.Config
	// AllowPlaintext permits sending credentials over an unencrypted
	// connection to a non-loopback host.
	AllowPlaintext bool
	// DialTimeout bounds the TCP connect and the TLS handshake.
	DialTimeout time.Duration
	// CommandTimeout bounds every single read and write: a server that
	// sends nothing for this long fails the command. It is not a limit on
	// a whole transfer, which may take as long as it keeps moving.
	CommandTimeout time.Duration
	// Pipeline is how many RETR or DELE commands Fetch and Dele keep in
	// flight when the server advertises PIPELINING; 0 means
	// DefaultPipeline, 1 turns pipelining off.
	Pipeline int
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
}

// MessageInfo describes one message in the maildrop. Size is in octets as
// the server announces them in LIST (RFC 1939: with CRLF line endings); a
// field the server has not been asked about yet is zero. Size is a hint:
// Dovecot, for one, leaves out the CRLF it adds to a message that lacks a
// final line ending, so the body can be two bytes longer.
type MessageInfo struct {
	ID   int
	Size int64
	UID  string
}

// Client is one POP3 session. Its methods must not be called concurrently,
// except Close, which may be called at any time to abort.
//
// After a transport failure (timeout, cut connection, cancelled Context)
// the session is out of step with the server and every later call returns
// an error matching ErrClosed; Dial again. A -ERR response (*Error) leaves
// the session usable.
type Client struct {
	cfg  Config
	addr string // as dialled, for errors
	log  *slog.Logger

	conn net.Conn // raw or TLS
	dc   *deadlineConn
	r    *bufio.Reader
	w    *bufio.Writer

	tlsState  *tls.ConnectionState
	loopback  bool
	greeting  string
	timestamp string // APOP challenge from the greeting, with its angle brackets
	caps      map[string][]string
	capaOK    bool // the server answered CAPA
	authed    bool

	body     *dotReader // response body handed out and not yet read to its end
	bodyStop func()     // ends body's Context watch
	inFetch  bool       // a Fetch callback is running
	known    map[int]MessageInfo
	err      error // sticky transport failure
	closed   atomic.Bool
}

// Dial connects, sets up TLS as cfg.TLS says, reads the greeting (keeping
// an APOP timestamp) and asks for the capabilities (RFC 2449 CAPA).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSImplicit
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.Pipeline <= 0 {
		cfg.Pipeline = DefaultPipeline
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr, host, err := normalizeAddr(cfg.Addr, cfg.TLS)
	if err != nil {
		return nil, &OpError{Addr: cfg.Addr, Err: err}
	}
	log = log.With("pop3", addr)
	c := &Client{cfg: cfg, addr: addr, log: log, caps: map[string][]string{}, known: map[int]MessageInfo{}}
	opErr := func(err error) error { return &OpError{Addr: addr, Err: err} }

	var tlsCfg *tls.Config
	if cfg.TLS != TLSNone {
		if tlsCfg, err = cfg.tlsConfig(host); err != nil {
			return nil, opErr(err)
		}
		if tlsCfg.InsecureSkipVerify {
			log.Warn("TLS certificate verification is disabled; the server's identity is not checked")
		}
	}

	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, opErr(err)
	}
	if ta, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		c.loopback = ta.IP.IsLoopback()
	}
	c.conn = raw
	if cfg.TLS == TLSImplicit {
		if err := c.handshake(dctx, tlsCfg); err != nil {
			raw.Close()
			return nil, opErr(err)
		}
	}
	c.dc = &deadlineConn{Conn: c.conn, timeout: cfg.CommandTimeout}
	c.r = bufio.NewReaderSize(c.dc, 64<<10)
	c.w = bufio.NewWriterSize(c.dc, 4<<10)

	if err := c.start(ctx, tlsCfg); err != nil {
		c.Close()
		return nil, err
	}
	log.Debug("connected", "tls", c.tlsState != nil, "capabilities", c.caps)
	return c, nil
}

func normalizeAddr(addr string, mode TLSMode) (hostport, host string, err error) {
	switch mode {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		return "", "", fmt.Errorf("unknown TLS mode %q (want implicit, starttls or none)", mode)
	}
	if addr == "" {
		return "", "", errors.New("no server address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port given (a bare IPv6 literal needs brackets anyway).
		host, port = strings.Trim(addr, "[]"), "110"
		if mode == TLSImplicit {
			port = "995"
		}
	}
	return net.JoinHostPort(host, port), host, nil
}

func (cfg *Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if cfg.ServerName != "" {
		tc.ServerName = cfg.ServerName
	} else if tc.ServerName == "" {
		tc.ServerName = host
	}
	if cfg.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := tc.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil {
				pool = x509.NewCertPool()
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (c *Client) handshake(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(c.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.conn = tc
	return nil
}

// start reads the greeting, asks CAPA and, in STLS mode, upgrades.
func (c *Client) start(ctx context.Context, tlsCfg *tls.Config) error {
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	resp, err := c.readResponse("greeting")
	if err != nil {
		return err
	}
	c.greeting = resp.text
	c.timestamp = apopTimestamp(resp.text)
	if err := c.capa(); err != nil {
		return err
	}
	if c.cfg.TLS != TLSStartTLS {
		return nil
	}
	if c.capaOK && !c.Has("STLS") {
		return &OpError{Addr: c.addr, Command: "STLS", Err: fmt.Errorf("%w: server does not offer STLS; use TLS mode implicit, or none if the network is trusted", ErrNotSupported)}
	}
	c.send("STLS")
	if _, err := c.readResponse("STLS"); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		// Anything after +OK and before the handshake was sent in the
		// clear and may be an attacker's, to be read as if it came over
		// TLS: the STARTTLS injection bugs (RFC 2595 §4 forbids it).
		return c.fail("STLS", fmt.Errorf("%w: data after STLS response, before TLS", ErrProtocol))
	}
	if err := c.handshake(ctx, tlsCfg); err != nil {
		return c.fail("STLS", err)
	}
	c.dc.swap(c.conn)
	// RFC 2595 §4: capabilities learnt before TLS must be forgotten.
	c.caps, c.capaOK = map[string][]string{}, false
	return c.capa()
}

// apopTimestamp extracts "<...@...>" from a greeting (RFC 1939 §7).
func apopTimestamp(greeting string) string {
	i := strings.IndexByte(greeting, '<')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(greeting[i:], '>')
	if j < 0 {
		return ""
	}
	ts := greeting[i : i+j+1]
	if !strings.Contains(ts, "@") {
		return ""
	}
	return ts
}

func (c *Client) capa() error {
	c.send("CAPA")
	var perr *Error
	_, err := c.readResponse("CAPA")
	if errors.As(err, &perr) {
		return nil // no RFC 2449 support: a plain RFC 1939 server
	} else if err != nil {
		return err
	}
	caps := map[string][]string{}
	err = c.readLines("CAPA", func(line []byte) error {
		f := strings.Fields(string(line))
		if len(f) > 0 {
			caps[strings.ToUpper(f[0])] = f[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.caps, c.capaOK = caps, true
	return nil
}

// Capabilities returns what the server listed in its CAPA response, keyed
// by upper-case name, e.g. "SASL": ["PLAIN", "LOGIN"]. It is empty for a
// server without CAPA. The map is a copy.
func (c *Client) Capabilities() map[string][]string {
	m := make(map[string][]string, len(c.caps))
	for k, v := range c.caps {
		m[k] = append([]string(nil), v...)
	}
	return m
}

// Has reports whether the server advertised capability name.
func (c *Client) Has(name string) bool {
	_, ok := c.caps[strings.ToUpper(name)]
	return ok
}

// Greeting returns the text of the server's greeting.
func (c *Client) Greeting() string { return c.greeting }

// TLSConnectionState returns the TLS state, or nil on a plain connection.
func (c *Client) TLSConnectionState() *tls.ConnectionState { return c.tlsState }

// begin starts a command: it checks the session is usable, ties ctx to the
// connection and finishes a body the caller left unread.
func (c *Client) begin(ctx context.Context) (stop func(), err error) {
	if c.closed.Load() {
		return nil, &OpError{Addr: c.addr, Err: ErrClosed}
	}
	if c.err != nil {
		var cause error = c.err
		if oe, ok := c.err.(*OpError); ok {
			cause = oe.Err
		}
		return nil, &OpError{Addr: c.addr, Err: fmt.Errorf("%w by an earlier failure: %w", ErrClosed, cause)}
	}
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Addr: c.addr, Err: err}
	}
	if c.inFetch {
		return nil, &OpError{Addr: c.addr, Err: errors.New("Client used from inside a Fetch callback")}
	}
	body := c.body
	if body != nil {
		c.endBody(body)
	}
	stop = c.dc.watch(ctx)
	if body != nil {
		if err := body.drain(); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

func (c *Client) endBody(d *dotReader) {
	if c.body == d {
		c.body = nil
		c.bodyStop()
		c.bodyStop = nil
	}
}

// fail records a transport failure: the session cannot be trusted after it.
func (c *Client) fail(cmd string, err error) error {
	if c.err != nil {
		return c.err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: connection closed by server", ErrClosed)
	}
	if c.closed.Load() {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.err = &OpError{Addr: c.addr, Command: cmd, Err: err}
	c.conn.Close()
	return c.err
}

// send buffers one command line; flush, or the next readResponse, sends
// it. Write errors surface at the flush.
func (c *Client) send(line string) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
}

func (c *Client) flush(cmd string) error {
	if err := c.w.Flush(); err != nil {
		return c.fail(cmd, err)
	}
	return nil
}

// readResponse flushes pending commands and reads one status line. A -ERR
// becomes an *Error; the session stays usable.
func (c *Client) readResponse(cmd string) (response, error) {
	if c.w.Buffered() > 0 {
		if err := c.flush(cmd); err != nil {
			return response{}, err
		}
	}
	line, err := readLine(c.r)
	if err != nil {
		return response{}, c.fail(cmd, err)
	}
	resp, err := parseResponse(line)
	if err != nil {
		return resp, c.fail(cmd, err)
	}
	if !resp.ok {
		return resp, &Error{Addr: c.addr, Command: cmd, Code: resp.code, Text: resp.text}
	}
	return resp, nil
}

// readLines reads the dot-terminated lines of a listing (CAPA, LIST, UIDL).
func (c *Client) readLines(cmd string, fn func(line []byte) error) error {
	var n int64
	var ferr error
	for {
		line, err := readLine(c.r)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return c.fail(cmd, err)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = nil
			}
			return c.fail(cmd, &truncatedError{what: "mid-listing", n: n, cause: err})
		}
		n += int64(len(line)) + 2
		if len(line) > 0 && line[0] == '.' {
			if len(line) == 1 {
				return ferr
			}
			line = line[1:]
		}
		if ferr == nil {
			ferr = fn(line)
		}
	}
}

// simple sends one command and reads its single-line response.
func (c *Client) simple(ctx context.Context, show, line string) (response, error) {
	stop, err := c.begin(ctx)
	if err != nil {
		return response{}, err
	}
	defer stop()
	c.send(line)
	return c.readResponse(show)
}

// Stat returns the number of messages and their total size (RFC 1939 STAT).
func (c *Client) Stat(ctx context.Context) (count int, size int64, err error) {
	resp, err := c.simple(ctx, "STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(resp.text)
	if len(f) >= 2 {
		count, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil && count >= 0 && size >= 0 {
			return count, size, nil
		}
	}
	return 0, 0, &OpError{Addr: c.addr, Command: "STAT", Err: fmt.Errorf("%w: STAT response %q", ErrProtocol, resp.text)}
}

// List returns the number and size of every message not marked deleted.
func (c *Client) List(ctx context.Context) ([]MessageInfo, error) {
	return c.listing(ctx, "LIST", false)
}

// UIDL returns the number and unique id of every message not marked
// deleted (RFC 1939 §7), with sizes filled in if List was called before.
func (c *Client) UIDL(ctx context.Context) ([]MessageInfo, error) {
	if c.capaOK && !c.Has("UIDL") {
		return nil, &OpError{Addr: c.addr, Command: "UIDL", Err: ErrNotSupported}
	}
	return c.listing(ctx, "UIDL", true)
}

// Messages returns LIST and UIDL merged, in one round trip when the server
// pipelines. Against a server without UIDL the UIDs are empty.
func (c *Client) Messages(ctx context.Context) ([]MessageInfo, error) {
	stop, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	withUIDL := !c.capaOK || c.Has("UIDL")
	pipelined := withUIDL && c.Has("PIPELINING")
	c.send("LIST")
	if pipelined {
		c.send("UIDL")
	}
	list, err := c.readListing("LIST", false)
	if err != nil && pipelined && c.err == nil {
		c.readListing("UIDL", true) // keep in step; LIST's error is the one that matters
	}
	if err != nil || !withUIDL {
		return list, err
	}
	if !pipelined {
		c.send("UIDL")
	}
	var perr *Error
	if _, err := c.readListing("UIDL", true); errors.As(err, &perr) && !c.capaOK {
		return list, nil // an RFC 1939 server without the optional UIDL
	} else if err != nil {
		return nil, err
	}
	for i := range list {
		list[i] = c.known[list[i].ID]
	}
	return list, nil
}

func (c *Client) listing(ctx context.Context, cmd string, uidl bool) ([]MessageInfo, error) {
	stop, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	c.send(cmd)
	return c.readListing(cmd, uidl)
}

func (c *Client) readListing(cmd string, uidl bool) ([]MessageInfo, error) {
	if _, err := c.readResponse(cmd); err != nil {
		return nil, err
	}
	var out []MessageInfo
	err := c.readLines(cmd, func(line []byte) error {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			return fmt.Errorf("%w: %s line %q", ErrProtocol, cmd, clip(line))
		}
		id, err := strconv.Atoi(f[0])
		if err != nil || id <= 0 {
			return fmt.Errorf("%w: %s line %q", ErrProtocol, cmd, clip(line))
		}
		mi := c.known[id]
		mi.ID = id
		if uidl {
			mi.UID = f[1]
		} else {
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || size < 0 {
				return fmt.Errorf("%w: %s line %q", ErrProtocol, cmd, clip(line))
			}
			mi.Size = size
		}
		c.known[id] = mi
		out = append(out, mi)
		return nil
	})
	if err != nil {
		if c.err == nil {
			err = &OpError{Addr: c.addr, Command: cmd, Err: err}
		}
		return nil, err
	}
	return out, nil
}

// Retr starts retrieving message id (RFC 1939 RETR). The body is streamed:
// read it to io.EOF or Close it before the next command (the next command
// drains it otherwise). Bytes are exactly those of the message as the
// server sends it, CRLF line endings included, minus the dot-stuffing. If
// the connection fails mid-message, Read returns an error matching
// ErrTruncated, never io.EOF.
func (c *Client) Retr(ctx context.Context, id int) (io.ReadCloser, error) {
	return c.retrieve(ctx, fmt.Sprintf("RETR %d", id))
}

// Top retrieves the headers of message id and its first lines lines of
// body (RFC 1939 TOP), streamed like Retr.
func (c *Client) Top(ctx context.Context, id, lines int) (io.ReadCloser, error) {
	if c.capaOK && !c.Has("TOP") {
		return nil, &OpError{Addr: c.addr, Command: "TOP", Err: ErrNotSupported}
	}
	return c.retrieve(ctx, fmt.Sprintf("TOP %d %d", id, lines))
}

func (c *Client) retrieve(ctx context.Context, cmd string) (io.ReadCloser, error) {
	stop, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	c.send(cmd)
	if _, err := c.readResponse(cmd); err != nil {
		stop()
		return nil, err
	}
	body := c.newBody(cmd)
	c.body, c.bodyStop = body, stop
	return &bodyCloser{c: c, d: body}, nil
}

func (c *Client) newBody(cmd string) *dotReader {
	return newDotReader(c.r, func(n int64, err error) error {
		if errors.Is(err, ErrProtocol) {
			return c.fail(cmd, err)
		}
		return c.fail(cmd, &truncatedError{what: "mid-message", n: n, cause: err})
	})
}

type bodyCloser struct {
	c *Client
	d *dotReader
}

func (b *bodyCloser) Read(p []byte) (int, error) {
	n, err := b.d.Read(p)
	if err != nil {
		b.c.endBody(b.d)
	}
	return n, err
}

// Close reads and discards the rest of the body: a POP3 response cannot be
// abandoned without losing the session.
func (b *bodyCloser) Close() error {
	if b.c.body != b.d {
		return nil
	}
	err := b.d.drain()
	b.c.endBody(b.d)
	return err
}

// Noop keeps the session alive (RFC 1939 NOOP).
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.simple(ctx, "NOOP", "NOOP")
	return err
}

// Rset unmarks every message marked deleted in this session (RFC 1939 RSET).
func (c *Client) Rset(ctx context.Context) error {
	_, err := c.simple(ctx, "RSET", "RSET")
	return err
}

// Quit ends the session (RFC 1939 QUIT). Only now does the server remove
// the messages marked with Dele: a nil error means it says it has. A *Error
// means it kept them all. Any other error means the answer was lost, and
// whether the deletions happened is unknown. The connection is closed in
// every case.
func (c *Client) Quit(ctx context.Context) error {
	defer c.Close()
	_, err := c.simple(ctx, "QUIT", "QUIT")
	return err
}

// Close closes the connection without QUIT: messages marked deleted stay
// on the server. It may be called concurrently with other methods to abort
// them.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.conn.Close()
}
