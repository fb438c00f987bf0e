package pop3

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestOAuth plays a Gmail/Outlook-like server for the token mechanisms:
// the initial response is too long for the 255-octet command line, so it
// must follow the server's "+"; a rejected token gets the JSON challenge
// that the client must acknowledge before the final -ERR.
func TestOAuth(t *testing.T) {
	token := "ya29." + strings.Repeat("T", 300) // long, like real access tokens
	tests := []struct {
		name      string
		sasl      string // advertised
		method    string
		accept    bool
		wantMech  string
		wantIR    string
		wantAck   string // client's answer to the error challenge
		wantError error
	}{
		{"auto prefers oauthbearer", "PLAIN XOAUTH2 OAUTHBEARER", "", true, "OAUTHBEARER",
			"n,a=u@example.com,\x01host=127.0.0.1\x01auth=Bearer " + token + "\x01\x01", "", nil},
		{"auto xoauth2", "PLAIN XOAUTH2", "", true, "XOAUTH2",
			"user=u@example.com\x01auth=Bearer " + token + "\x01\x01", "", nil},
		{"xoauth2 rejected", "XOAUTH2", "xoauth2", false, "XOAUTH2",
			"user=u@example.com\x01auth=Bearer " + token + "\x01\x01", "", ErrAuth},
		{"oauthbearer rejected", "OAUTHBEARER", "oauthbearer", false, "OAUTHBEARER",
			"n,a=u@example.com,\x01host=127.0.0.1\x01auth=Bearer " + token + "\x01\x01", "\x01", ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotCmd, gotIR, gotAck string
			done := make(chan struct{})
			addr := scripted(t, func(c net.Conn, r *bufio.Reader) {
				defer close(done)
				io.WriteString(c, "+OK hi\r\n")
				expectLine(r, "CAPA")
				fmt.Fprintf(c, "+OK\r\nUSER\r\nSASL %s\r\n.\r\n", tt.sasl)
				line, _ := r.ReadString('\n')
				gotCmd = strings.TrimSpace(line)
				io.WriteString(c, "+ \r\n")
				line, _ = r.ReadString('\n')
				ir, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
				gotIR = string(ir)
				if tt.accept {
					io.WriteString(c, "+OK welcome\r\n")
					if expectLine(r, "CAPA") {
						io.WriteString(c, "+OK\r\nUIDL\r\n.\r\n")
					}
					return
				}
				fmt.Fprintf(c, "+ %s\r\n", base64.StdEncoding.EncodeToString([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`)))
				line, err := r.ReadString('\n')
				ack, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
				gotAck = string(ack)
				if err != nil {
					gotAck = "<none>"
				}
				io.WriteString(c, "-ERR [AUTH] Invalid credentials\r\n")
				r.ReadString('\n')
			})
			c, err := Dial(context.Background(), Config{Addr: addr, TLS: TLSNone, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(context.Background(), Credentials{Username: "u@example.com", Token: token, Method: tt.method})
			c.Close()
			<-done
			if gotCmd != "AUTH "+tt.wantMech {
				t.Errorf("command %q, want %q (initial response after the continuation)", gotCmd, "AUTH "+tt.wantMech)
			}
			if gotIR != tt.wantIR {
				t.Errorf("initial response %q, want %q", gotIR, tt.wantIR)
			}
			if !tt.accept && gotAck != tt.wantAck {
				t.Errorf("acknowledgement %q, want %q", gotAck, tt.wantAck)
			}
			if tt.wantError == nil && err != nil {
				t.Fatalf("Auth: %v", err)
			}
			if tt.wantError != nil && !errors.Is(err, tt.wantError) {
				t.Fatalf("Auth: %v, want %v", err, tt.wantError)
			}
			if err != nil && strings.Contains(err.Error(), token[:20]) {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
}

func TestCredentialsNotPrinted(t *testing.T) {
	cr := Credentials{Username: "u", Password: "pw-Visible-1", Token: "tok-Visible-2"}
	for _, s := range []string{fmt.Sprint(cr), fmt.Sprintf("%+v", cr), fmt.Sprintf("%#v", cr), fmt.Sprintf("%v", &cr)} {
		if strings.Contains(s, "Visible") || !strings.Contains(s, "redacted") {
			t.Errorf("printed credentials: %s", s)
		}
	}
}
