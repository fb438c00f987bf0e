package pop3

import (
	"context"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/internal/dovecottest"
)

func TestCheckWalkThrough(t *testing.T) {
	ca := dovecottest.NewCA(t)
	srv := startOwnServer(t, NewDirBackend(writeEML(t, [][]byte{[]byte("Subject: a\r\n\r\nx\r\n"), []byte("Subject: b\r\n\r\ny\r\n")})), ca.Server)
	good := &Credentials{Username: testUser, Password: testPass}
	tests := []struct {
		name     string
		cfg      Config
		creds    *Credentials
		wantErr  bool
		wantLast string // the name of the last step
		wantFix  string
		detail   string
	}{
		{name: "implicit TLS, all steps", cfg: Config{Addr: srv.TLSAddr, TLS: TLSImplicit, CAFile: ca.CAFile, ServerName: "localhost"},
			creds: good, wantLast: "quit", detail: "2 messages"},
		{name: "STLS", cfg: Config{Addr: srv.Addr, TLS: TLSStartTLS, CAFile: ca.CAFile, ServerName: "localhost"},
			creds: good, wantLast: "quit"},
		{name: "no user stops before auth", cfg: Config{Addr: srv.Addr, TLS: TLSNone}, wantLast: "auth", detail: "skipped"},
		{name: "implicit TLS against a plain port", cfg: Config{Addr: srv.Addr, TLS: TLSImplicit},
			wantErr: true, wantLast: "tls", wantFix: "use --tls starttls or --tls none"},
		{name: "unknown CA", cfg: Config{Addr: srv.TLSAddr, TLS: TLSImplicit, ServerName: "localhost"},
			wantErr: true, wantLast: "tls", wantFix: "--ca-file"},
		{name: "wrong password", cfg: Config{Addr: srv.Addr, TLS: TLSNone},
			creds: &Credentials{Username: testUser, Password: "nope"}, wantErr: true, wantLast: "auth", wantFix: "check the user name and password"},
		{name: "nothing listening", cfg: Config{Addr: "127.0.0.1:1", TLS: TLSNone},
			wantErr: true, wantLast: "connect", wantFix: "nothing listens on port 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var steps []Step
			err := Check(context.Background(), tt.cfg, tt.creds, func(s Step) { steps = append(steps, s) })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v; steps %+v", err, tt.wantErr, steps)
			}
			last := steps[len(steps)-1]
			if last.Name != tt.wantLast || last.OK == tt.wantErr {
				t.Fatalf("last step %+v, want %s ok=%v", last, tt.wantLast, !tt.wantErr)
			}
			if !strings.Contains(last.Fix, tt.wantFix) {
				t.Errorf("fix %q, want it to contain %q", last.Fix, tt.wantFix)
			}
			all := ""
			for _, s := range steps {
				all += s.Detail + "\n"
			}
			if !strings.Contains(all, tt.detail) {
				t.Errorf("details %q lack %q", all, tt.detail)
			}
		})
	}
}
