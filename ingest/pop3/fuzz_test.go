package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzResponse checks the status-line parser: it never panics, accepts
// only +OK/-ERR followed by nothing or a space, returns codes that obey RFC
// 2449, text fit for logs, and reparses what it would print the same way.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		"+OK", "-ERR", "+OK 2 320", "-ERR [IN-USE] locked", "-ERR [SYS/TEMP] x",
		"-ERR [AUTH]", "+ok hi", "-err [sys/perm/quota] y", "+OKAY", "-ERRx", "+OK [", "+OK []",
		"-ERR [A//B] z", "-ERR [a b] c", "+OK \x00\x1b[31m", "+OK\t<1.2@x>", "", "+", "* OK",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		resp, err := parseResponse(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00\x1b") {
				t.Fatalf("error carries control characters: %q", err)
			}
			return
		}
		upper := strings.ToUpper(string(line))
		if resp.ok != strings.HasPrefix(upper, "+OK") || (!resp.ok && !strings.HasPrefix(upper, "-ERR")) {
			t.Fatalf("%q parsed as ok=%v", line, resp.ok)
		}
		if resp.code != "" && (!validCode([]byte(resp.code)) || strings.Contains(resp.code, "]")) {
			t.Fatalf("%q: invalid code %q", line, resp.code)
		}
		for _, r := range resp.text {
			if r < ' ' || r == 0x7f || r == utf8.RuneError {
				t.Fatalf("%q: text %q has a control character", line, resp.text)
			}
		}
		// Print and parse again: same meaning.
		var b strings.Builder
		b.WriteString(map[bool]string{true: "+OK", false: "-ERR"}[resp.ok])
		if resp.code != "" {
			b.WriteString(" [" + resp.code + "]")
		}
		if resp.text != "" {
			b.WriteString(" " + resp.text)
		}
		again, err := parseResponse([]byte(b.String()))
		if err != nil || again.ok != resp.ok || again.code != resp.code || again.text != strings.TrimLeft(resp.text, " \t") {
			// Text that itself starts with "[x]" may become a code once
			// the original code is gone; only an identical code matters.
			if err != nil || again.ok != resp.ok || (resp.code != "" && again.code != resp.code) {
				t.Fatalf("%q -> %+v -> %q -> %+v, %v", line, resp, b.String(), again, err)
			}
		}
	})
}

// FuzzDotReader feeds arbitrary server output to the body reader, read in
// chunks of arbitrary size, and compares with a line-by-line reference
// decoder: same bytes and io.EOF exactly when a terminator came, otherwise
// ErrTruncated with every byte handed over counted.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{
		"a\r\n.\r\n", ".\r\n", "..\r\n.\r\n", ".x\r\n.\r\n", "a\r\nb", "a\r\n.", "a\r\n.\r", "\r\n.\n",
		"a\nb\n.\n", strings.Repeat("x", 5000) + "\r\n.\r\n", "..\r\n..\r\n.\r\ntrailing", "",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, wire []byte, chunk uint8) {
		want, complete, rest := referenceDecode(wire)
		br := bufio.NewReaderSize(bytes.NewReader(wire), 16)
		var failN int64 = -1
		d := newDotReader(br, func(n int64, err error) error {
			failN = n
			return &truncatedError{what: "mid-message", n: n, cause: err}
		})
		buf := make([]byte, int(chunk%64)+1)
		var got []byte
		var err error
		for {
			var n int
			n, err = d.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if complete {
			if err != io.EOF || !bytes.Equal(got, want) {
				t.Fatalf("wire %q: got %q, %v; want %q, EOF", wire, got, err, want)
			}
			// Whatever followed the terminator is the next response's.
			left, _ := io.ReadAll(br)
			if !bytes.Equal(left, rest) {
				t.Fatalf("wire %q: left %q, want %q", wire, left, rest)
			}
			return
		}
		if err == io.EOF || !errors.Is(err, ErrTruncated) {
			t.Fatalf("wire %q without terminator: error %v", wire, err)
		}
		if !bytes.HasPrefix(want, got) || failN != int64(len(got)) {
			t.Fatalf("wire %q: handed over %q (reported %d), want a prefix of %q", wire, got, failN, want)
		}
	})
}

// referenceDecode is RFC 1939 §3 read naively: whole lines, ending in LF;
// a line that is "." (before CRLF or LF) ends the response; otherwise a
// leading "." is dropped.
func referenceDecode(wire []byte) (payload []byte, complete bool, rest []byte) {
	for len(wire) > 0 {
		i := bytes.IndexByte(wire, '\n')
		if i < 0 {
			// An unterminated last line: its bytes may be handed over, the
			// dot rule applied if it can already be decided.
			switch {
			case wire[0] != '.':
				return append(payload, wire...), false, nil
			case len(wire) == 1 || (len(wire) == 2 && wire[1] == '\r'):
				return payload, false, nil // end or data: cannot tell yet
			}
			return append(payload, wire[1:]...), false, nil
		}
		line := wire[:i+1]
		wire = wire[i+1:]
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return payload, true, wire
		}
		if line[0] == '.' {
			line = line[1:]
		}
		payload = append(payload, line...)
	}
	return payload, false, nil
}

// FuzzRoundTrip: any stored message, written by the server and read by
// the client, arrives as the server announced it (onWire), and WireSize
// predicts its length.
func FuzzRoundTrip(f *testing.F) {
	for _, m := range edgeMessages {
		f.Add(m.content)
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		var wire bytes.Buffer
		if _, err := copyWire(&wire, bytes.NewReader(stored), true, -1); err != nil {
			t.Fatal(err)
		}
		wire.WriteString(".\r\nNEXT")
		br := bufio.NewReader(&wire)
		got, err := io.ReadAll(newDotReader(br, func(n int64, err error) error { return ErrTruncated }))
		want := onWire(stored)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("stored %q: got %q, %v; want %q", stored, got, err, want)
		}
		if left, _ := io.ReadAll(br); string(left) != "NEXT" {
			t.Fatalf("stored %q: read past the terminator, left %q", stored, left)
		}
		if size, err := WireSize(bytes.NewReader(stored)); err != nil || size != int64(len(want)) {
			t.Fatalf("stored %q: WireSize %d, %v; delivered %d", stored, size, err, len(want))
		}
	})
}
