package spam

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const engineSpamd = "spamassassin"

type spamd struct {
	network, addr string
	user          string
}

func newSpamd(c SpamAssassinConfig) (*spamd, error) {
	s := &spamd{network: "tcp", addr: c.Address, user: c.User}
	if p, ok := strings.CutPrefix(c.Address, "unix://"); ok {
		s.network, s.addr = "unix", p
	} else if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return nil, fmt.Errorf("spamassassin.address %q: want host:port or unix:///path", c.Address)
	}
	if strings.ContainsAny(c.User, "\r\n") {
		return nil, fmt.Errorf("spamassassin.user: line breaks not allowed")
	}
	return s, nil
}

func (s *spamd) name() string { return engineSpamd }

// check sends the message with the REPORT command of the spamc/spamd
// protocol (version 1.5) and reads the score, the threshold and the rule
// table of the report.
func (s *spamd) check(ctx context.Context, raw []byte) (Verdict, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return Verdict{}, err
	}
	defer conn.Close()
	// A spamd that accepts and then stalls must not hold the analysis past
	// its deadline. The connection is cut once ctx is done, not at the
	// deadline itself, so that the caller then sees ctx's error and calls
	// it a timeout.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var hdr strings.Builder
	hdr.WriteString("REPORT SPAMC/1.5\r\n")
	fmt.Fprintf(&hdr, "Content-length: %d\r\n", len(raw))
	if s.user != "" {
		fmt.Fprintf(&hdr, "User: %s\r\n", s.user)
	}
	hdr.WriteString("\r\n")
	if _, err := io.WriteString(conn, hdr.String()); err != nil {
		return Verdict{}, fmt.Errorf("sending to spamd %s: %w", s.addr, err)
	}
	if _, err := conn.Write(raw); err != nil {
		return Verdict{}, fmt.Errorf("sending to spamd %s: %w", s.addr, err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	reply, err := io.ReadAll(io.LimitReader(conn, maxReply))
	if err != nil {
		return Verdict{}, fmt.Errorf("reading from spamd %s: %w", s.addr, err)
	}
	if len(reply) == 0 {
		// Closed without a word: spamd restarting, or a child killed.
		return Verdict{}, fmt.Errorf("spamd %s closed the connection without an answer", s.addr)
	}
	return parseSpamd(reply)
}

var (
	spamdStatus = regexp.MustCompile(`^SPAMD/(\d+\.\d+) (\d+) (.*)$`)
	spamHeader  = regexp.MustCompile(`^(?i:spam):\s*(True|False|Yes|No)\s*;\s*(-?[0-9.]+)\s*/\s*(-?[0-9.]+)\s*$`)
	ruleLine    = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]+)?)\s+([A-Z0-9_]+)\s+(.*)$`)
)

// parseSpamd reads spamd's answer to REPORT: a status line, headers (Spam:
// True ; 12.5 / 5.0), a blank line, and the report, whose table lists each
// rule hit with its points.
func parseSpamd(reply []byte) (Verdict, error) {
	sc := bufio.NewScanner(strings.NewReader(string(reply)))
	sc.Buffer(nil, maxReply)
	if !sc.Scan() {
		return Verdict{}, fmt.Errorf("%w: empty answer", errGarbage)
	}
	m := spamdStatus.FindStringSubmatch(strings.TrimRight(sc.Text(), "\r"))
	if m == nil {
		return Verdict{}, fmt.Errorf("%w: status line %s", errGarbage, snippet([]byte(sc.Text())))
	}
	if m[2] != "0" {
		// spamd's own error (EX_USAGE, EX_NOPERM, ...): the request or the
		// setup is wrong, and sending it again will not change that.
		return Verdict{}, fmt.Errorf("%w: spamd answered %s %s", errGarbage, m[2], m[3])
	}
	v := Verdict{Engine: engineSpamd, Rules: []Rule{}}
	seen := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if h := spamHeader.FindStringSubmatch(line); h != nil {
			v.Spam = strings.EqualFold(h[1], "true") || strings.EqualFold(h[1], "yes")
			v.Score, _ = strconv.ParseFloat(h[2], 64)
			v.Required, _ = strconv.ParseFloat(h[3], 64)
			seen = true
		}
	}
	if !seen {
		return Verdict{}, fmt.Errorf("%w: no Spam header in spamd's answer", errGarbage)
	}
	// The rule table starts after the line of dashes under its heading.
	inTable := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !inTable {
			inTable = strings.HasPrefix(line, "----")
			continue
		}
		if r := ruleLine.FindStringSubmatch(line); r != nil {
			score, _ := strconv.ParseFloat(r[1], 64)
			v.Rules = append(v.Rules, Rule{Name: r[2], Score: score, Description: strings.TrimSpace(r[3])})
		} else if strings.TrimSpace(line) != "" && len(v.Rules) > 0 && strings.HasPrefix(line, " ") {
			// A description continued on the next line.
			last := &v.Rules[len(v.Rules)-1]
			last.Description += " " + strings.TrimSpace(line)
		}
	}
	return v, nil
}
