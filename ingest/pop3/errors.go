package pop3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Sentinel errors, for errors.Is. A *Error matches the sentinel of its
// response code; an *OpError matches ErrTruncated, ErrTimeout or ErrClosed
// when that is why the operation failed.
var (
	// ErrAuth: the server rejected the credentials ([AUTH], or any -ERR to
	// an authentication command from a server that advertises
	// AUTH-RESP-CODE and gave no other code). Retrying soon will not help.
	ErrAuth = errors.New("authentication failed")
	// ErrInUse: another session holds the mailbox lock ([IN-USE]).
	ErrInUse = errors.New("mailbox in use")
	// ErrLoginDelay: the user logged in too recently ([LOGIN-DELAY]).
	ErrLoginDelay = errors.New("login delay not yet elapsed")
	// ErrTemporary: a transient server fault ([SYS/TEMP]); try again later.
	ErrTemporary = errors.New("temporary server failure")
	// ErrPermanent: a server fault that needs an administrator ([SYS/PERM]).
	ErrPermanent = errors.New("permanent server failure")

	// ErrTruncated: the connection ended, stalled or was cut in the middle
	// of a response. For a message body it means the bytes handed over so
	// far are not the whole message.
	ErrTruncated = errors.New("response truncated")
	// ErrTimeout: a read or write did not complete within its deadline.
	ErrTimeout = errors.New("timeout")
	// ErrClosed: the Client was closed, or an earlier failure left the
	// connection out of step with the server; a new Dial is needed.
	ErrClosed = errors.New("connection closed")
	// ErrProtocol: the server sent something POP3 does not allow.
	ErrProtocol = errors.New("protocol violation")
	// ErrNotSupported: the server does not offer what was asked (STLS, a
	// SASL mechanism, UIDL, TOP).
	ErrNotSupported = errors.New("not supported by server")
	// ErrPlaintext: sending the credentials would expose them on an
	// unencrypted, non-loopback connection and Config.AllowPlaintext is off.
	ErrPlaintext = errors.New("refusing to send credentials over an unencrypted connection")
)

// Error is a -ERR response from the server.
type Error struct {
	Addr    string // server address as dialled
	Command string // the command as it may be shown: never carries a secret
	Code    string // RFC 2449 response code without brackets, e.g. "SYS/TEMP"; "" if none
	Text    string // the rest of the server's line

	// authFailure marks an authentication -ERR that carries no code from a
	// server that promised codes (RFC 3206 AUTH-RESP-CODE): by that promise
	// it is a credentials problem.
	authFailure bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pop3 %s: %s: -ERR", e.Addr, e.Command)
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Text != "" {
		b.WriteByte(' ')
		b.WriteString(e.Text)
	}
	return b.String()
}

// Is reports whether the response code maps to target. Codes are
// hierarchical ("SYS/TEMP/DISK" is still SYS/TEMP) and compared without
// regard to case.
func (e *Error) Is(target error) bool {
	code := strings.ToUpper(e.Code)
	top, _, _ := strings.Cut(code, "/")
	switch target {
	case ErrAuth:
		return top == "AUTH" || (code == "" && e.authFailure)
	case ErrInUse:
		return top == "IN-USE"
	case ErrLoginDelay:
		return top == "LOGIN-DELAY"
	case ErrTemporary:
		return code == "SYS/TEMP" || strings.HasPrefix(code, "SYS/TEMP/")
	case ErrPermanent:
		return code == "SYS/PERM" || strings.HasPrefix(code, "SYS/PERM/")
	}
	return false
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool {
	return e.Is(ErrTemporary) || e.Is(ErrInUse) || e.Is(ErrLoginDelay)
}

// OpError is any failure other than a -ERR response: dialling, TLS, a
// timeout, a cut connection, a malformed response, a refused policy.
type OpError struct {
	Addr    string
	Command string // "" for failures outside a command (dial, greeting)
	Err     error
}

func (e *OpError) Error() string {
	if e.Command == "" {
		return fmt.Sprintf("pop3 %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("pop3 %s: %s: %v", e.Addr, e.Command, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Is lets a deadline that expired anywhere below (a net.Conn, a TLS
// handshake) match ErrTimeout without callers knowing which layer it was.
func (e *OpError) Is(target error) bool {
	return target == ErrTimeout && isTimeout(e.Err)
}

// Timeout implements the informal net.Error convention.
func (e *OpError) Timeout() bool { return isTimeout(e.Err) }

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// truncatedError says how far a multi-line response got before it broke.
type truncatedError struct {
	what  string // "mid-message", "mid-listing"
	n     int64
	cause error // nil when the server simply closed the connection
}

func (e *truncatedError) Error() string {
	how := "connection closed"
	switch {
	case errors.Is(e.cause, context.Canceled):
		how = "cancelled"
	case isTimeout(e.cause):
		how = "read timed out"
	}
	msg := fmt.Sprintf("%s %s after %d bytes", how, e.what, e.n)
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap never yields io.EOF: a caller testing for io.EOF must not mistake
// half a message for a whole one.
func (e *truncatedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrTruncated}
	}
	return []error{ErrTruncated, e.cause}
}
