package pop3

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("pop3: server closed")

// Server is a POP3 server over a Backend, for demos, development and
// tests. It speaks RFC 1939 with APOP, CAPA, PIPELINING, RESP-CODES,
// AUTH-RESP-CODE, SASL PLAIN and LOGIN, and STLS when TLSConfig is set.
// Each user's maildrop is locked by the session that logged in to it; a
// second login gets -ERR [IN-USE]. Messages marked with DELE are removed
// only when the session ends with QUIT.
//
// It accepts plaintext logins on unencrypted connections: it is meant to
// listen on loopback or a test network.
type Server struct {
	Backend Backend
	// Users maps user names to passwords. It is needed for APOP, which
	// works from the password itself.
	Users map[string]string
	// Authenticate checks a password when Users is nil. With neither set,
	// every login is refused.
	Authenticate func(ctx context.Context, user, password string) error
	// TLSConfig enables STLS and is used by ListenAndServeTLS.
	TLSConfig *tls.Config
	// Hostname appears in the greeting's APOP timestamp; default "localhost".
	Hostname string
	// Timeout bounds the wait for each command and each write; default 10
	// minutes, RFC 1939's minimum autologout timer.
	Timeout time.Duration
	Logger  *slog.Logger

	initOnce  sync.Once
	baseCtx   context.Context // cancelled by Shutdown: idle sessions end
	cancel    context.CancelFunc
	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	locks     map[string]bool
	wg        sync.WaitGroup
	nextID    atomic.Uint64
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.baseCtx, s.cancel = context.WithCancel(context.Background())
		s.listeners = map[net.Listener]struct{}{}
		s.sessions = map[*session]struct{}{}
		s.locks = map[string]bool{}
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 10 * time.Minute
}

// ListenAndServe listens on addr (":110" if empty) and serves.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":110"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ListenAndServeTLS listens on addr (":995" if empty) and serves implicit
// TLS with TLSConfig.
func (s *Server) ListenAndServeTLS(addr string) error {
	if s.TLSConfig == nil {
		return errors.New("pop3: ListenAndServeTLS without TLSConfig")
	}
	if addr == "" {
		addr = ":995"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(tls.NewListener(ln, s.TLSConfig))
}

// Serve accepts connections on ln until Shutdown or Close and returns
// ErrServerClosed then. A listener from tls.NewListener gives implicit TLS.
func (s *Server) Serve(ln net.Listener) error {
	if s.Backend == nil {
		return errors.New("pop3: Server without Backend")
	}
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			// Out of file descriptors and the like: wait, as net/http does.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("pop3 server: accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		sess := s.newSession(conn)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return ErrServerClosed
		}
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess.serve()
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, ends sessions as soon as they wait for their
// next command (without deleting anything, as a dropped connection would)
// and waits for them, or until ctx is done, after which it acts as Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.stopListening()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.init()
	s.stopListening()
	s.cancel()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.conn.Close()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) lock(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[user] {
		return false
	}
	s.locks[user] = true
	return true
}

func (s *Server) unlock(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locks, user)
}

func (s *Server) checkPassword(ctx context.Context, user, pass string) bool {
	if s.Users != nil {
		want, ok := s.Users[user]
		// Compare even for an unknown user, so timing does not tell.
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
		return ok && eq
	}
	if s.Authenticate != nil {
		return s.Authenticate(ctx, user, pass) == nil
	}
	return false
}

// session states (RFC 1939 §3).
const (
	stateAuthorization = iota
	stateTransaction
)

const maxCommandLine = 8 << 10 // SASL responses (tokens) exceed RFC 2449's 255

type session struct {
	srv  *Server
	conn net.Conn
	dc   *deadlineConn
	r    *bufio.Reader
	w    *bufio.Writer
	log  *slog.Logger
	tls  bool

	state     int
	timestamp string
	userArg   string // from USER, waiting for PASS
	user      string // logged in
	failures  int
	msgs      []Entry
	deleted   []bool
	fileBuf   *bufio.Reader // reused for every message sent
}

func (s *Server) newSession(conn net.Conn) *session {
	sess := &session{srv: s, conn: conn}
	_, sess.tls = conn.(*tls.Conn)
	sess.dc = &deadlineConn{Conn: conn, timeout: s.timeout()}
	sess.r = bufio.NewReaderSize(sess.dc, maxCommandLine)
	sess.w = bufio.NewWriterSize(sess.dc, 64<<10)
	host := s.Hostname
	if host == "" {
		host = "localhost"
	}
	id := s.nextID.Add(1)
	sess.timestamp = fmt.Sprintf("<%d.%d.%d@%s>", os.Getpid(), id, time.Now().UnixNano(), host)
	sess.log = s.logger().With("session", id, "remote", conn.RemoteAddr().String())
	return sess
}

func (ss *session) serve() {
	defer ss.conn.Close()
	defer func() {
		if ss.user != "" {
			ss.srv.unlock(ss.user)
		}
	}()
	ss.log.Debug("pop3 server: session start")
	if tc, ok := ss.conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(ss.srv.baseCtx, ss.srv.timeout())
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			ss.log.Debug("pop3 server: TLS handshake failed", "err", err)
			return
		}
	}
	ss.reply("+OK mailsift POP3 server ready " + ss.timestamp)
	for {
		if err := ss.flushIfIdle(); err != nil {
			return
		}
		line, err := ss.readLine()
		if err != nil {
			switch {
			case ss.srv.baseCtx.Err() != nil:
				ss.reply("-ERR [SYS/TEMP] server shutting down")
				ss.w.Flush()
			case errors.Is(err, errLineTooLong):
				ss.hangUp()
			case !errors.Is(err, io.EOF):
				ss.log.Debug("pop3 server: read failed", "err", err)
			}
			return
		}
		verb, arg, _ := strings.Cut(string(line), " ")
		if done := ss.handle(strings.ToUpper(verb), arg); done {
			ss.hangUp()
			return
		}
	}
}

var errLineTooLong = errors.New("command line too long")

// hangUp sends what is buffered and closes gently: closing a socket with
// unread input makes the kernel send RST, which can destroy our last
// response before the client reads it (pipelined commands after QUIT).
func (ss *session) hangUp() {
	ss.w.Flush()
	if cw, ok := ss.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		ss.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(ss.conn, 1<<20))
	}
}

// readLine reads one command line with the idle timeout; Shutdown
// interrupts the wait.
func (ss *session) readLine() ([]byte, error) {
	stop := ss.dc.watch(ss.srv.baseCtx)
	defer stop()
	line, err := ss.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxCommandLine {
		ss.reply("-ERR line too long")
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	return trimEOL(line), nil
}

// flushIfIdle sends the buffered responses once the client has no more
// pipelined commands waiting: one write per batch, not per response.
func (ss *session) flushIfIdle() error {
	if ss.r.Buffered() > 0 {
		return nil
	}
	return ss.w.Flush()
}

func (ss *session) reply(line string) {
	ss.w.WriteString(line)
	ss.w.WriteString("\r\n")
}

// handle runs one command and reports whether the session is over.
func (ss *session) handle(verb, arg string) bool {
	switch verb {
	case "QUIT":
		return ss.quit()
	case "CAPA":
		ss.capa()
		return false
	case "NOOP":
		if ss.state == stateTransaction {
			ss.reply("+OK")
			return false
		}
	}
	if ss.state == stateAuthorization {
		return ss.handleAuthorization(verb, arg)
	}
	ss.handleTransaction(verb, arg)
	return false
}

func (ss *session) capa() {
	ss.reply("+OK capability list follows")
	ss.reply("TOP")
	ss.reply("UIDL")
	ss.reply("PIPELINING")
	ss.reply("RESP-CODES")
	ss.reply("AUTH-RESP-CODE")
	if ss.state == stateAuthorization {
		ss.reply("USER")
		ss.reply("SASL PLAIN LOGIN")
		if ss.srv.TLSConfig != nil && !ss.tls {
			ss.reply("STLS")
		}
	}
	ss.reply("IMPLEMENTATION mailsift")
	ss.reply(".")
}

func (ss *session) handleAuthorization(verb, arg string) bool {
	switch verb {
	case "USER":
		if arg == "" {
			ss.reply("-ERR USER needs a name")
			return false
		}
		ss.userArg = arg
		ss.reply("+OK send PASS")
	case "PASS":
		if ss.userArg == "" {
			ss.reply("-ERR USER first")
			return false
		}
		user := ss.userArg
		ss.userArg = ""
		return ss.login(user, ss.srv.checkPassword(ss.srv.baseCtx, user, arg))
	case "APOP":
		name, digest, _ := strings.Cut(arg, " ")
		want, ok := ss.srv.Users[name]
		sum := md5.Sum([]byte(ss.timestamp + want))
		eq := subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(digest))) == 1
		return ss.login(name, ok && eq)
	case "AUTH":
		return ss.auth(arg)
	case "STLS":
		ss.stls()
	default:
		ss.reply("-ERR command not valid before login")
	}
	return false
}

// login finishes any successful or failed authentication.
func (ss *session) login(user string, ok bool) bool {
	if !ok {
		ss.failures++
		ss.log.Info("pop3 server: login failed", "user", user)
		if ss.failures >= 3 {
			ss.reply("-ERR [AUTH] invalid user name or password; too many failures")
			return true
		}
		ss.reply("-ERR [AUTH] invalid user name or password")
		return false
	}
	if !ss.srv.lock(user) {
		ss.reply("-ERR [IN-USE] maildrop is locked by another session")
		return false
	}
	msgs, err := ss.srv.Backend.List(ss.srv.baseCtx, user)
	if err != nil {
		ss.srv.unlock(user)
		ss.log.Warn("pop3 server: listing maildrop failed", "user", user, "err", err)
		ss.reply("-ERR [SYS/TEMP] cannot open maildrop")
		return false
	}
	ss.user, ss.msgs, ss.deleted = user, msgs, make([]bool, len(msgs))
	ss.state = stateTransaction
	n, size := ss.stat()
	ss.log.Debug("pop3 server: logged in", "user", user, "messages", n)
	ss.reply(fmt.Sprintf("+OK %s has %d messages (%d octets)", user, n, size))
	return false
}

func (ss *session) auth(arg string) bool {
	mech, ir, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	switch mech {
	case "":
		// RFC 1734 style listing; fetchmail probes with it.
		ss.reply("+OK")
		ss.reply("PLAIN")
		ss.reply("LOGIN")
		ss.reply(".")
		return false
	case "PLAIN":
		var user string
		srv := sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errors.New("authorization identity differs")
			}
			user = username
			if !ss.srv.checkPassword(ss.srv.baseCtx, username, password) {
				return errors.New("bad credentials")
			}
			return nil
		})
		var resp []byte
		if hasIR {
			resp = []byte(ir)
		} else {
			r, ok := ss.challenge("")
			if !ok {
				return false
			}
			resp = r
		}
		dec, err := decodeSASL(resp)
		if err != nil {
			ss.reply("-ERR invalid base64")
			return false
		}
		_, _, err = srv.Next(dec)
		return ss.login(user, err == nil)
	case "LOGIN":
		var user string
		if hasIR {
			dec, err := decodeSASL([]byte(ir))
			if err != nil {
				ss.reply("-ERR invalid base64")
				return false
			}
			user = string(dec)
		} else {
			r, ok := ss.challenge("Username:")
			if !ok {
				return false
			}
			dec, err := decodeSASL(r)
			if err != nil {
				ss.reply("-ERR invalid base64")
				return false
			}
			user = string(dec)
		}
		r, ok := ss.challenge("Password:")
		if !ok {
			return false
		}
		pass, err := decodeSASL(r)
		if err != nil {
			ss.reply("-ERR invalid base64")
			return false
		}
		return ss.login(user, ss.srv.checkPassword(ss.srv.baseCtx, user, string(pass)))
	}
	ss.reply("-ERR unsupported SASL mechanism")
	return false
}

// challenge sends "+ base64(text)" and reads the client's answer; false
// when the client cancelled or the connection failed (already answered).
func (ss *session) challenge(text string) ([]byte, bool) {
	ss.reply("+ " + base64.StdEncoding.EncodeToString([]byte(text)))
	if err := ss.w.Flush(); err != nil {
		return nil, false
	}
	line, err := ss.readLine()
	if err != nil {
		return nil, false
	}
	if string(line) == "*" {
		ss.reply("-ERR authentication cancelled")
		return nil, false
	}
	return append([]byte(nil), line...), true
}

func decodeSASL(b []byte) ([]byte, error) {
	if string(b) == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(string(b))
}

func (ss *session) stls() {
	if ss.srv.TLSConfig == nil || ss.tls {
		ss.reply("-ERR STLS not available")
		return
	}
	ss.reply("+OK begin TLS negotiation")
	if err := ss.w.Flush(); err != nil {
		return
	}
	// Commands pipelined behind STLS were sent in the clear and could be
	// a man in the middle's: RFC 2595 §4 forbids acting on them.
	if n := ss.r.Buffered(); n > 0 {
		ss.r.Discard(n)
	}
	tc := tls.Server(ss.conn, ss.srv.TLSConfig)
	ctx, cancel := context.WithTimeout(ss.srv.baseCtx, ss.srv.timeout())
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		ss.log.Debug("pop3 server: STLS handshake failed", "err", err)
		ss.conn.Close()
		return
	}
	ss.conn, ss.tls = tc, true
	ss.dc.swap(tc)
	ss.r.Reset(ss.dc)
	ss.w.Reset(ss.dc)
}

func (ss *session) stat() (n int, size int64) {
	for i, m := range ss.msgs {
		if !ss.deleted[i] {
			n++
			size += m.Size
		}
	}
	return n, size
}

// msg parses a message number and checks it names a live message.
func (ss *session) msg(arg string) (int, bool) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(ss.msgs) || strings.HasPrefix(arg, "+") {
		ss.reply("-ERR no such message")
		return 0, false
	}
	if ss.deleted[n-1] {
		ss.reply(fmt.Sprintf("-ERR message %d already deleted", n))
		return 0, false
	}
	return n - 1, true
}

func (ss *session) handleTransaction(verb, arg string) {
	args := strings.Fields(arg)
	switch verb {
	case "STAT":
		n, size := ss.stat()
		ss.reply(fmt.Sprintf("+OK %d %d", n, size))
	case "LIST", "UIDL":
		field := func(i int) string { return strconv.FormatInt(ss.msgs[i].Size, 10) }
		if verb == "UIDL" {
			field = func(i int) string { return ss.msgs[i].UID }
		}
		if len(args) > 0 {
			if i, ok := ss.msg(args[0]); ok {
				ss.reply(fmt.Sprintf("+OK %d %s", i+1, field(i)))
			}
			return
		}
		n, size := ss.stat()
		ss.reply(fmt.Sprintf("+OK %d messages (%d octets)", n, size))
		for i := range ss.msgs {
			if !ss.deleted[i] {
				ss.reply(strconv.Itoa(i+1) + " " + field(i))
			}
		}
		ss.reply(".")
	case "RETR", "TOP":
		if len(args) < 1 || (verb == "TOP" && len(args) < 2) {
			ss.reply("-ERR " + verb + " needs a message number")
			return
		}
		i, ok := ss.msg(args[0])
		if !ok {
			return
		}
		lines := -1
		if verb == "TOP" {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				ss.reply("-ERR TOP needs a line count")
				return
			}
			lines = n
		}
		ss.send(i, lines)
	case "DELE":
		if len(args) < 1 {
			ss.reply("-ERR DELE needs a message number")
			return
		}
		if i, ok := ss.msg(args[0]); ok {
			ss.deleted[i] = true
			ss.reply(fmt.Sprintf("+OK message %d deleted", i+1))
		}
	case "RSET":
		clear(ss.deleted)
		n, size := ss.stat()
		ss.reply(fmt.Sprintf("+OK maildrop has %d messages (%d octets)", n, size))
	case "LAST":
		ss.reply("+OK 0") // RFC 1460; some old clients still ask
	default:
		ss.reply("-ERR unknown command")
	}
}

// send writes message i, whole (lines < 0) or as TOP.
func (ss *session) send(i, lines int) {
	m := ss.msgs[i]
	rc, err := ss.srv.Backend.Open(ss.srv.baseCtx, ss.user, m.UID)
	if err != nil {
		ss.log.Warn("pop3 server: opening message failed", "uid", m.UID, "err", err)
		ss.reply("-ERR [SYS/TEMP] cannot read message")
		return
	}
	defer rc.Close()
	if lines < 0 {
		ss.reply(fmt.Sprintf("+OK %d octets", m.Size))
	} else {
		ss.reply("+OK top of message follows")
	}
	if ss.fileBuf == nil {
		ss.fileBuf = bufio.NewReaderSize(rc, 32<<10)
	} else {
		ss.fileBuf.Reset(rc)
	}
	_, err = copyWireBuf(ss.w, ss.fileBuf, true, lines)
	ss.fileBuf.Reset(nil) // do not keep the file reachable
	if err != nil {
		// The status line is out; the only honest signal left is to hang
		// up, which the client reports as a truncated message.
		ss.log.Warn("pop3 server: sending message failed", "uid", m.UID, "err", err)
		ss.conn.Close()
		return
	}
	ss.reply(".")
}

func (ss *session) quit() bool {
	if ss.state != stateTransaction {
		ss.reply("+OK bye")
		return true
	}
	var uids []string
	for i, d := range ss.deleted {
		if d {
			uids = append(uids, ss.msgs[i].UID)
		}
	}
	if len(uids) > 0 {
		if err := ss.srv.Backend.Delete(context.Background(), ss.user, uids); err != nil {
			ss.log.Warn("pop3 server: deleting messages failed", "user", ss.user, "err", err)
			ss.reply("-ERR [SYS/TEMP] some deleted messages not removed")
			return true
		}
	}
	n, _ := ss.stat()
	// Release the maildrop before answering: a client that logs in again
	// right after +OK must not meet its own previous session's lock.
	ss.srv.unlock(ss.user)
	ss.user = ""
	ss.reply(fmt.Sprintf("+OK bye (%d messages left)", n))
	return true
}
