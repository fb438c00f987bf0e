package pop3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
)

// Authentication methods for Credentials.Method.
const (
	AuthAuto        = "auto"
	AuthUser        = "user"        // RFC 1939 USER/PASS
	AuthAPOP        = "apop"        // RFC 1939 APOP (MD5 digest; weak)
	AuthPlain       = "plain"       // RFC 5034 SASL PLAIN (RFC 4616)
	AuthLogin       = "login"       // SASL LOGIN (draft-murchison-sasl-login)
	AuthXOAuth2     = "xoauth2"     // Google/Microsoft XOAUTH2
	AuthOAuthBearer = "oauthbearer" // RFC 7628 OAUTHBEARER
)

// Credentials for Auth. Password serves user, apop, plain and login; Token
// (an OAuth 2 access token) serves xoauth2 and oauthbearer.
type Credentials struct {
	Username string
	Password string
	Token    string
	// Method is one of the Auth* constants; "" means AuthAuto: with a Token,
	// OAUTHBEARER or else XOAUTH2; with a password over TLS, SASL PLAIN,
	// LOGIN, USER/PASS, APOP in that order of preference; over an
	// unencrypted link that policy allows, APOP first, as it is the only
	// one that does not put the password itself on the wire.
	Method string
}

// String keeps secrets out of logs that print a Credentials by accident.
func (cr Credentials) String() string {
	return fmt.Sprintf("{Username:%q Method:%q Password:%s Token:%s}", cr.Username, cr.Method, redacted(cr.Password), redacted(cr.Token))
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Auth logs in and moves the session to the TRANSACTION state. It refuses
// (ErrPlaintext) to send a password or token over a connection that is
// neither TLS nor to a loopback address unless Config.AllowPlaintext is
// set; an explicit Method "apop" is let through because it was made for
// such links. Any *Error is the server refusing; errors.Is(err, ErrAuth)
// tells that it blamed the credentials.
func (c *Client) Auth(ctx context.Context, cr Credentials) error {
	if c.authed {
		return &OpError{Addr: c.addr, Command: "AUTH", Err: errors.New("already authenticated")}
	}
	method := strings.ToLower(cr.Method)
	if method == "" {
		method = AuthAuto
	}
	secure := c.tlsState != nil
	allowed := secure || c.loopback || c.cfg.AllowPlaintext
	if !allowed && method != AuthAPOP {
		return &OpError{Addr: c.addr, Command: "AUTH", Err: fmt.Errorf("%w; use TLS (implicit or starttls) or set allow_plaintext", ErrPlaintext)}
	}
	if method == AuthAuto {
		m, err := c.chooseMethod(cr, secure)
		if err != nil {
			return &OpError{Addr: c.addr, Command: "AUTH", Err: err}
		}
		method = m
	}
	if strings.ContainsAny(cr.Username, "\r\n\x00") || strings.ContainsAny(cr.Password, "\r\n\x00") {
		return &OpError{Addr: c.addr, Command: "AUTH", Err: errors.New("user name or password contains CR, LF or NUL")}
	}
	c.log.Debug("authenticating", "method", method, "user", cr.Username)

	var err error
	switch method {
	case AuthUser:
		err = c.authUser(ctx, cr)
	case AuthAPOP:
		err = c.authAPOP(ctx, cr)
	case AuthPlain:
		err = c.authSASL(ctx, "PLAIN", sasl.NewPlainClient("", cr.Username, cr.Password))
	case AuthLogin:
		err = c.authSASL(ctx, "LOGIN", &loginClient{user: cr.Username, pass: cr.Password})
	case AuthXOAuth2:
		err = c.authSASL(ctx, "XOAUTH2", &xoauth2Client{user: cr.Username, token: cr.Token})
	case AuthOAuthBearer:
		host, _, _ := strings.Cut(c.addr, ":")
		err = c.authSASL(ctx, "OAUTHBEARER", sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: cr.Username, Token: cr.Token, Host: host}))
	default:
		return &OpError{Addr: c.addr, Command: "AUTH", Err: fmt.Errorf("unknown method %q (want auto, user, apop, plain, login, xoauth2 or oauthbearer)", cr.Method)}
	}
	if err != nil {
		return err
	}
	c.authed = true
	// RFC 2449 §5: capabilities may differ once logged in (PIPELINING,
	// EXPIRE, LOGIN-DELAY are often only told now).
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	before := c.caps
	if err := c.capa(); err != nil {
		return err
	}
	if !c.capaOK {
		c.caps, c.capaOK = before, true
	}
	return nil
}

func (c *Client) chooseMethod(cr Credentials, secure bool) (string, error) {
	mechs := c.caps["SASL"]
	has := func(m string) bool {
		return slices.ContainsFunc(mechs, func(s string) bool { return strings.EqualFold(s, m) })
	}
	if cr.Token != "" {
		switch {
		case has("OAUTHBEARER"):
			return AuthOAuthBearer, nil
		case has("XOAUTH2"):
			return AuthXOAuth2, nil
		}
		return "", fmt.Errorf("%w: an OAuth token was given but the server offers neither OAUTHBEARER nor XOAUTH2 (SASL %v)", ErrNotSupported, mechs)
	}
	if cr.Password == "" {
		return "", errors.New("no password and no token given")
	}
	offered := map[string]bool{
		AuthPlain: has("PLAIN"),
		AuthLogin: has("LOGIN"),
		AuthUser:  !c.capaOK || c.Has("USER"),
		AuthAPOP:  c.timestamp != "",
	}
	order := []string{AuthPlain, AuthLogin, AuthUser, AuthAPOP}
	if !secure {
		order = []string{AuthAPOP, AuthPlain, AuthLogin, AuthUser}
	}
	for _, m := range order {
		if offered[m] {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: the server offers no password login here (CAPA %v); it may require TLS first", ErrNotSupported, c.caps)
}

// authErr marks an -ERR to an authentication command as a credentials
// failure where the server's RFC 3206 promise allows that reading.
func (c *Client) authErr(err error) error {
	var perr *Error
	if errors.As(err, &perr) && perr.Code == "" && c.Has("AUTH-RESP-CODE") {
		perr.authFailure = true
	}
	return err
}

func (c *Client) authUser(ctx context.Context, cr Credentials) error {
	if c.capaOK && !c.Has("USER") {
		return &OpError{Addr: c.addr, Command: "USER", Err: fmt.Errorf("%w: USER/PASS not offered", ErrNotSupported)}
	}
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	// mpop sends both at once too: one round trip fewer per login.
	pipelined := c.Has("PIPELINING")
	c.send("USER " + cr.Username)
	if pipelined {
		c.send("PASS " + cr.Password)
	}
	_, uerr := c.readResponse("USER")
	if uerr != nil && !pipelined {
		return c.authErr(uerr)
	}
	if uerr != nil && c.err != nil {
		return uerr
	}
	if !pipelined {
		c.send("PASS " + cr.Password)
	}
	_, perr := c.readResponse("PASS")
	if uerr != nil {
		return c.authErr(uerr)
	}
	return c.authErr(perr)
}

func (c *Client) authAPOP(ctx context.Context, cr Credentials) error {
	if c.timestamp == "" {
		return &OpError{Addr: c.addr, Command: "APOP", Err: fmt.Errorf("%w: the greeting carries no APOP timestamp", ErrNotSupported)}
	}
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	sum := md5.Sum([]byte(c.timestamp + cr.Password))
	c.send("APOP " + cr.Username + " " + hex.EncodeToString(sum[:]))
	_, err = c.readResponse("APOP")
	return c.authErr(err)
}

// authSASL runs one RFC 5034 exchange.
func (c *Client) authSASL(ctx context.Context, mech string, sc sasl.Client) error {
	show := "AUTH " + mech
	if c.capaOK && !slices.ContainsFunc(c.caps["SASL"], func(s string) bool { return strings.EqualFold(s, mech) }) {
		return &OpError{Addr: c.addr, Command: show, Err: fmt.Errorf("%w: SASL %s not offered (SASL %v)", ErrNotSupported, mech, c.caps["SASL"])}
	}
	stop, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer stop()
	_, ir, err := sc.Start()
	if err != nil {
		return &OpError{Addr: c.addr, Command: show, Err: err}
	}
	line := show
	if ir != nil {
		enc := encode64(ir)
		if enc == "" {
			enc = "=" // RFC 5034 §4: an empty initial response
		}
		// RFC 5034 §4: an initial response that would take the command
		// past 255 octets is sent after the server's first "+" instead.
		if len(line)+1+len(enc)+2 <= 255 {
			line += " " + enc
			ir = nil
		}
	}
	c.send(line)
	var saslErr error
	for {
		if err := c.flush(show); err != nil {
			return err
		}
		l, err := readLine(c.r)
		if err != nil {
			return c.fail(show, err)
		}
		if len(l) > 0 && l[0] == '+' && (len(l) == 1 || l[1] == ' ') {
			challenge, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(l[1:])))
			switch {
			case err != nil:
				saslErr = fmt.Errorf("%w: challenge is not base64", ErrProtocol)
				c.send("*") // RFC 5034: cancel; the server answers -ERR
			case ir != nil:
				c.send(encode64(ir))
				ir = nil
			default:
				resp, err := sc.Next(challenge)
				var obErr *sasl.OAuthBearerError
				switch {
				case errors.As(err, &obErr):
					// RFC 7628 §3.2.3: acknowledge the error with ^A; the
					// server then ends with -ERR.
					saslErr = fmt.Errorf("OAUTHBEARER: %s", printable([]byte(obErr.Status)))
					c.send(encode64([]byte{1}))
				case err != nil:
					saslErr = err
					c.send("*")
				default:
					c.send(encode64(resp))
				}
			}
			continue
		}
		resp, err := parseResponse(l)
		if err != nil {
			return c.fail(show, err)
		}
		if resp.ok {
			return nil
		}
		perr := &Error{Addr: c.addr, Command: show, Code: resp.code, Text: resp.text}
		if saslErr != nil && resp.code == "" && !errors.Is(saslErr, ErrProtocol) {
			perr.authFailure = true // the mechanism itself reported the refusal
			if perr.Text == "" {
				perr.Text = saslErr.Error()
			}
		}
		return c.authErr(perr)
	}
}

func encode64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// loginClient speaks LOGIN without an initial response, because that is
// how the mechanism was deployed; go-sasl's client assumes one.
type loginClient struct{ user, pass string }

func (l *loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }

func (l *loginClient) Next(challenge []byte) ([]byte, error) {
	switch ch := strings.ToLower(string(challenge)); {
	case strings.HasPrefix(ch, "user"):
		return []byte(l.user), nil
	case strings.HasPrefix(ch, "pass"):
		return []byte(l.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", clip(challenge))
}

// xoauth2Client implements Google's XOAUTH2 (not in go-sasl). On failure
// the server sends a JSON challenge that must be answered with an empty
// response before it sends -ERR.
type xoauth2Client struct {
	user, token string
	failed      bool
}

func (x *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if x.failed {
		return nil, errors.New("XOAUTH2: unexpected second challenge")
	}
	x.failed = true
	return []byte{}, nil
}

// GoString keeps %#v from printing the secrets too.
func (cr Credentials) GoString() string { return "pop3.Credentials" + cr.String() }
