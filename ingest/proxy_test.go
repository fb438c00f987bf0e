package ingest

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// popProxy is a TCP proxy the tests put between ingest and Dovecot. On a
// plain connection it follows the POP3 exchange: it learns the UIDLs from
// the server's UIDL listing, notes the DELEs, and calls onQuit with the
// UIDLs marked for deletion before it lets QUIT, the command that makes
// the server delete them, through. It also breaks sessions on request: it
// cuts the connection or stalls it in the middle of a RETR response, or
// stalls the reply to QUIT.
type popProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu     sync.Mutex
	next   fault                // for the next session only
	onQuit func(dele []string)  // runs before QUIT is forwarded
	onRetr func(session, n int) // runs when the status line of a RETR reply arrives
	onDele func(session, n int) // runs before the n-th DELE of a session is forwarded
	count  int                  // sessions so far
	conns  map[*proxyConn]bool
	done   bool
	ended  []sessionStats
}

// sessionStats says how far a session got.
type sessionStats struct {
	retrs int  // RETR replies that began
	deles int  // DELE commands
	quit  bool // QUIT was sent
}

// fault is what to do to a session.
type fault struct {
	cut       bool // close both ends
	stall     bool // forward nothing more from the server; keep the line open
	retr      int  // at the retr-th RETR reply of the session (0: at once)
	bytes     int  // after this many bytes of its body
	afterQuit bool // stall: the server gets QUIT, the client never hears back
}

func startProxy(t testing.TB, listen, target string) *popProxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &popProxy{t: t, ln: ln, target: target, conns: map[*proxyConn]bool{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Addr is where ingest should connect.
func (p *popProxy) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

func (p *popProxy) setFault(f fault) {
	p.mu.Lock()
	p.next = f
	p.mu.Unlock()
}

func (p *popProxy) sessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *popProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.done = true
	conns := p.conns
	p.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

func (p *popProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.count++
		c := &proxyConn{p: p, id: p.count, client: client, server: server, fault: p.next, uidl: map[int]string{}, trigger: -1}
		p.next = fault{}
		p.conns[c] = true
		p.mu.Unlock()
		if c.fault.retr == 0 && (c.fault.cut || c.fault.stall) && !c.fault.afterQuit {
			c.trigger = 0
		}
		go c.fromClient()
		go c.fromServer()
	}
}

type proxyConn struct {
	p              *popProxy
	id             int
	client, server net.Conn
	fault          fault

	mu      sync.Mutex
	uidl    map[int]string // message number -> UIDL, from the UIDL listing
	dele    []int
	deles   int
	quitted bool
	stalled bool
	closed  bool

	// server to client, used by fromServer only
	off     int64 // bytes forwarded
	trigger int64 // offset at which the fault strikes; -1: none yet
	retrs   int
	line    []byte // the start of a line that continues in the next read

	retrsShared int // retrs, under mu
}

func (c *proxyConn) close() {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	st := sessionStats{deles: c.deles, quit: c.quitted}
	c.mu.Unlock()
	c.client.Close()
	c.server.Close()
	c.p.mu.Lock()
	delete(c.p.conns, c)
	if first {
		st.retrs = c.retrsSeen()
		c.p.ended = append(c.p.ended, st)
	}
	c.p.mu.Unlock()
}

// retrsSeen is read by close, which may run on either goroutine.
func (c *proxyConn) retrsSeen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retrsShared
}

// sessionsEnded returns how far each finished session got.
func (p *popProxy) sessionsEnded() []sessionStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sessionStats(nil), p.ended...)
}

var (
	uidlLine   = regexp.MustCompile(`^(\d+) ([0-9A-Fa-f]{16})\r?\n$`)
	octetsLine = regexp.MustCompile(`^\+OK \d+ octets`)
)

// fromClient forwards commands, noting DELE, RSET and QUIT.
func (c *proxyConn) fromClient() {
	defer c.close()
	buf := make([]byte, 32<<10)
	var line []byte
	for {
		n, err := c.client.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				line = append(line, data...)
				if _, err := c.server.Write(data); err != nil {
					return
				}
				break
			}
			line = append(line, data[:i+1]...)
			cmd := string(bytes.TrimRight(line, "\r\n"))
			line = line[:0]
			switch {
			case len(cmd) > 5 && (cmd[:5] == "DELE " || cmd[:5] == "dele "):
				if k, err := strconv.Atoi(cmd[5:]); err == nil {
					c.mu.Lock()
					c.dele = append(c.dele, k)
					c.deles++
					n := c.deles
					c.mu.Unlock()
					c.p.mu.Lock()
					on := c.p.onDele
					c.p.mu.Unlock()
					if on != nil {
						on(c.id, n)
					}
				}
			case cmd == "RSET":
				c.mu.Lock()
				c.dele = nil
				c.mu.Unlock()
			case cmd == "QUIT":
				c.quit()
			}
			if _, err := c.server.Write(data[:i+1]); err != nil {
				return
			}
			data = data[i+1:]
		}
		if err != nil {
			return
		}
	}
}

func (c *proxyConn) quit() {
	c.mu.Lock()
	var uidls []string
	for _, k := range c.dele {
		u, ok := c.uidl[k]
		if !ok {
			u = "unknown message " + strconv.Itoa(k)
		}
		uidls = append(uidls, u)
	}
	if c.fault.afterQuit {
		c.stalled = true
	}
	c.quitted = true
	c.mu.Unlock()
	c.p.mu.Lock()
	on := c.p.onQuit
	c.p.mu.Unlock()
	if on != nil {
		on(uidls)
	}
}

// fromServer forwards replies, learning UIDLs and striking at the fault's
// offset.
func (c *proxyConn) fromServer() {
	defer func() {
		// A stalled session stays open on the client's side even when the
		// server is done, until the client gives up.
		c.mu.Lock()
		stalled := c.stalled
		c.mu.Unlock()
		if !stalled {
			c.close()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 && !c.forward(buf[:n]) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward passes data to the client up to the fault's offset; it returns
// false when the session was cut.
func (c *proxyConn) forward(data []byte) bool {
	c.mu.Lock()
	stalled := c.stalled
	c.mu.Unlock()
	if stalled {
		return true // swallow: the client waits for ever
	}
	end := len(data)
	for pos := 0; pos < len(data) && c.trigger < 0; {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			if len(c.line) < 256 {
				c.line = append(c.line, data[pos:]...)
			}
			break
		}
		if len(c.line) < 256 {
			c.line = append(c.line, data[pos:pos+i+1]...)
		}
		pos += i + 1
		c.inspect(c.line, c.off+int64(pos))
		c.line = c.line[:0]
	}
	if c.trigger >= 0 && c.trigger < c.off+int64(len(data)) {
		end = int(max(0, c.trigger-c.off))
	}
	if end > 0 {
		if _, err := c.client.Write(data[:end]); err != nil {
			return false
		}
		c.off += int64(end)
	}
	if end == len(data) {
		return true
	}
	if c.fault.cut {
		c.p.t.Logf("proxy: session %d cut after %d bytes from the server", c.id, c.off)
		return false
	}
	c.p.t.Logf("proxy: session %d stalled after %d bytes from the server", c.id, c.off)
	c.mu.Lock()
	c.stalled = true
	c.mu.Unlock()
	return true
}

// inspect looks at one complete line from the server, which ends at offset
// end of the stream.
func (c *proxyConn) inspect(line []byte, end int64) {
	if m := uidlLine.FindSubmatch(line); m != nil {
		k, _ := strconv.Atoi(string(m[1]))
		c.mu.Lock()
		c.uidl[k] = string(m[2])
		c.mu.Unlock()
		return
	}
	if !octetsLine.Match(line) {
		return
	}
	c.retrs++
	c.mu.Lock()
	c.retrsShared = c.retrs
	c.mu.Unlock()
	c.p.mu.Lock()
	on := c.p.onRetr
	c.p.mu.Unlock()
	if on != nil {
		on(c.id, c.retrs)
	}
	if (c.fault.cut || c.fault.stall) && !c.fault.afterQuit && c.fault.retr == c.retrs {
		c.trigger = end + int64(c.fault.bytes)
	}
}
