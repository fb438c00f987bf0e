// Package pop3 is mailsift's POP3 client and a small POP3 server.
//
// The client is built for ingest: it streams every message (an io.Reader
// per body, never the mailbox in memory), hands over exactly the bytes the
// server sent, pipelines RETR and DELE when the server allows, and turns
// every stall or cut connection into a typed error rather than a hang or a
// half message passed off as whole. Every read and write has a deadline
// and every blocking call takes a context.Context.
//
// The server (Server, with DirBackend and MaildirBackend) serves a folder
// of .eml files or a Maildir. It backs `mailsift devserver`, `mailsift
// demo` and tests; fetchmail and mpop fetch from it.
//
// Covered, on both sides unless noted:
//   - RFC 1939 POP3: USER/PASS, APOP, STAT, LIST, UIDL, RETR, TOP, DELE,
//     RSET, NOOP, QUIT; dot-stuffing; deletion only in the UPDATE state,
//     that is after a successful QUIT.
//   - RFC 2449 extension mechanism: CAPA, PIPELINING, RESP-CODES (typed
//     errors for [AUTH], [IN-USE], [LOGIN-DELAY], [SYS/TEMP], [SYS/PERM]),
//     TOP, UIDL, USER, SASL, IMPLEMENTATION.
//   - RFC 2595 STLS, plus implicit TLS (port 995, RFC 8314).
//   - RFC 3206 AUTH-RESP-CODE.
//   - RFC 5034 AUTH with SASL: PLAIN (RFC 4616) and LOGIN on both sides;
//     XOAUTH2 and OAUTHBEARER (RFC 7628) in the client.
//
// Secrets (passwords, tokens, SASL responses) never appear in errors or
// logs: commands are named in errors as "PASS" or "AUTH PLAIN", without
// their arguments.
package pop3
