package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/ingest/pop3"
)

func newDevserverCmd() *cobra.Command {
	var (
		dir, listen, user, passwordEnv, certFile, keyFile string
		implicit                                          bool
	)
	cmd := &cobra.Command{
		Use:   "devserver --dir DIR [--listen ADDR]",
		Short: "Serve a folder of .eml files (or a Maildir) over POP3, for demos and plugin development",
		Long: `devserver is a small POP3 server (RFC 1939 with UIDL, TOP, APOP, CAPA,
PIPELINING, SASL PLAIN/LOGIN, and STLS or implicit TLS when given a
certificate) over a folder of .eml files or a Maildir (a folder with cur/
and new/). Messages deleted by a client are removed from the folder at
QUIT, as on a real server: serve a copy if you want to keep the files.

The password comes from the environment variable named by --password-env
(default MAILSIFT_DEVSERVER_PASSWORD); with it unset, the password is "dev".`,
		Example: `  cp -r examples/mail /tmp/mail && mailsift devserver --dir /tmp/mail
  mailsift devserver --dir ~/Maildir --listen 127.0.0.1:1995 --cert cert.pem --key key.pem --implicit-tls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := os.Stat(dir)
			if err != nil {
				return fmt.Errorf("devserver --dir %s: %w", dir, unwrapPathError(err))
			}
			if !st.IsDir() {
				return fmt.Errorf("devserver --dir %s: not a directory", dir)
			}
			var backend pop3.Backend = pop3.NewDirBackend(dir)
			if isDir(filepath.Join(dir, "cur")) || isDir(filepath.Join(dir, "new")) {
				backend = pop3.NewMaildirBackend(dir)
			}
			password := "dev"
			if v, err := config.Secret("devserver password", passwordEnv, ""); err == nil {
				password = v
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			log, err := newLogger(LogConfig{Level: "info"}, verbose)
			if err != nil {
				return err
			}
			srv := &pop3.Server{Backend: backend, Users: map[string]string{user: password}, Logger: log}
			if certFile != "" || keyFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					return fmt.Errorf("devserver: certificate %s / key %s: %w", certFile, keyFile, err)
				}
				srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			} else if implicit {
				return fmt.Errorf("devserver: --implicit-tls needs --cert and --key")
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("devserver: listen %s: %w", listen, err)
			}
			if implicit {
				ln = tls.NewListener(ln, srv.TLSConfig)
			}
			mode := "plain"
			switch {
			case implicit:
				mode = "implicit TLS"
			case srv.TLSConfig != nil:
				mode = "STLS offered"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mailsift devserver: serving %s on %s (%s), user %q\n", dir, ln.Addr(), mode, user)
			go func() {
				<-cmd.Context().Done()
				_ = srv.Close()
			}()
			if err := srv.Serve(ln); err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("devserver: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder of .eml files, or a Maildir (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:1110", "address to listen on")
	cmd.Flags().StringVar(&user, "user", "dev", "user name clients log in with")
	cmd.Flags().StringVar(&passwordEnv, "password-env", "MAILSIFT_DEVSERVER_PASSWORD", "environment variable holding the password")
	cmd.Flags().StringVar(&certFile, "cert", "", "PEM certificate: offer STLS (or implicit TLS with --implicit-tls)")
	cmd.Flags().StringVar(&keyFile, "key", "", "PEM private key of --cert")
	cmd.Flags().BoolVar(&implicit, "implicit-tls", false, "TLS from the first byte, as on port 995")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
