package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/ingest/pop3"
)

func newPOP3Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "pop3",
		Short:   "POP3 tools: check a server connection",
		Example: `  mailsift pop3 check pop.example.com --user support@example.com --password-env SUPPORT_POP3_PASSWORD`,
	}
	cmd.AddCommand(newPOP3CheckCmd())
	return cmd
}

func newPOP3CheckCmd() *cobra.Command {
	var (
		tlsMode, caFile, serverName, user, passwordEnv, auth string
		allowPlaintext, insecure                             bool
	)
	cmd := &cobra.Command{
		Use:   "check HOST[:PORT] [--tls implicit|starttls|none] [--ca-file F] [--user U] [--password-env VAR]",
		Short: "Walk through a POP3 connection step by step, with a verdict and a fix for each",
		Long: `check does what a person does with openssl s_client, as one command: connect,
TLS handshake and certificate, greeting, CAPA, authentication, STAT, LIST
and UIDL, then QUIT. Each step prints ok or FAIL and, on failure, the fix
most likely to help. Nothing is deleted.

The password comes from the environment variable named by --password-env,
or is asked for at the terminal; it is never a flag value.`,
		Example: `  mailsift pop3 check pop.example.com
  SUPPORT_POP3_PASSWORD=... mailsift pop3 check pop.example.com:995 --user support@example.com --password-env SUPPORT_POP3_PASSWORD
  mailsift pop3 check mail.internal:110 --tls starttls --ca-file /etc/ssl/internal-ca.pem --user ops`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := pop3.TLSMode(tlsMode)
			switch mode {
			case pop3.TLSImplicit, pop3.TLSStartTLS, pop3.TLSNone:
			default:
				return fmt.Errorf("--tls %q: want implicit, starttls or none", tlsMode)
			}
			cfg := pop3.Config{Addr: args[0], TLS: mode, CAFile: caFile, ServerName: serverName,
				InsecureSkipVerify: insecure, AllowPlaintext: allowPlaintext}
			var creds *pop3.Credentials
			if user != "" {
				pw, err := readPassword(cmd, passwordEnv, user)
				if err != nil {
					return err
				}
				creds = &pop3.Credentials{Username: user, Password: pw, Method: auth}
			}
			out := cmd.OutOrStdout()
			failed := false
			err := pop3.Check(cmd.Context(), cfg, creds, func(s pop3.Step) {
				mark := "ok  "
				if !s.OK {
					mark, failed = "FAIL", true
				}
				fmt.Fprintf(out, "%s  %-9s %s\n", mark, s.Name, s.Detail)
				if s.Fix != "" {
					fmt.Fprintf(out, "      %-9s %s\n", "fix:", s.Fix)
				}
			})
			if err != nil || failed {
				return fmt.Errorf("pop3 check %s: %w", args[0], err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tlsMode, "tls", "implicit", "implicit (port 995), starttls (STLS on 110) or none")
	f.StringVar(&caFile, "ca-file", "", "PEM file of an extra CA to trust")
	f.StringVar(&serverName, "server-name", "", "name the certificate must carry (default: the host)")
	f.BoolVar(&insecure, "insecure-skip-verify", false, "accept any certificate (for diagnosis only)")
	f.StringVar(&user, "user", "", "log in as this user (without it, check stops before authentication)")
	f.StringVar(&passwordEnv, "password-env", "", "environment variable holding the password (default: ask)")
	f.StringVar(&auth, "auth", "auto", "auto, user, apop, plain, login, xoauth2 or oauthbearer")
	f.BoolVar(&allowPlaintext, "allow-plaintext", false, "allow sending the password over an unencrypted link")
	return cmd
}

func readPassword(cmd *cobra.Command, env, user string) (string, error) {
	if env != "" {
		return config.Secret("--password-env", env, "")
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		// Not a terminal: read one line, so scripts can pipe it in.
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("password: %w", err)
		}
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			return "", errors.New("password: none given (use --password-env VAR, or type it at the prompt)")
		}
		return line, nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "password for %s: ", user)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return string(b), nil
}
