// Package ingest is mailsift's front door: it polls POP3 mailboxes, puts
// every new message on JetStream, and deletes mail from a server only after
// JetStream has acknowledged it.
package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/ingest/pop3"
	"github.com/mailsift/mailsift/pipeline"
)

// Mailbox is one entry of the `mailboxes:` list.
type Mailbox struct {
	Name string `yaml:"name"`
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is implicit (port 995), starttls (STLS on port 110) or none.
	TLS                string `yaml:"tls"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	Username           string `yaml:"username"`
	PasswordEnv        string `yaml:"password_env"`
	PasswordFile       string `yaml:"password_file"`
	OAuthTokenEnv      string `yaml:"oauth_token_env"`
	OAuthTokenFile     string `yaml:"oauth_token_file"`
	// Auth is auto, user, apop, plain, login, xoauth2 or oauthbearer.
	Auth           string `yaml:"auth"`
	AllowPlaintext bool   `yaml:"allow_plaintext"`
	// Delete is after-publish, never, or a duration such as 168h: keep mail
	// on the server and delete it once it was fetched that long ago.
	Delete         string          `yaml:"delete"`
	PollInterval   time.Duration   `yaml:"poll_interval"`
	MaxMessageSize config.ByteSize `yaml:"max_message_size"`
	// Timeout bounds dialing and each command's reply.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults fills the fields the config left empty.
func (m *Mailbox) Defaults() {
	if m.TLS == "" {
		m.TLS = "implicit"
	}
	if m.Port == 0 {
		m.Port = 995
		if m.TLS != "implicit" {
			m.Port = 110
		}
	}
	if m.Auth == "" {
		m.Auth = "auto"
	}
	if m.Delete == "" {
		m.Delete = "after-publish"
	}
	if m.PollInterval == 0 {
		m.PollInterval = time.Minute
	}
	if m.MaxMessageSize == 0 {
		m.MaxMessageSize = 50 * 1000 * 1000
	}
	if m.Timeout == 0 {
		m.Timeout = 30 * time.Second
	}
}

// DeletePolicy is the parsed form of Mailbox.Delete.
type DeletePolicy struct {
	Never        bool
	AfterPublish bool
	After        time.Duration // delete once fetched this long ago
}

// Policy parses the delete setting.
func (m *Mailbox) Policy() (DeletePolicy, error) {
	switch m.Delete {
	case "after-publish":
		return DeletePolicy{AfterPublish: true}, nil
	case "never":
		return DeletePolicy{Never: true}, nil
	}
	d, err := time.ParseDuration(m.Delete)
	if err != nil || d <= 0 {
		return DeletePolicy{}, fmt.Errorf("mailbox %s: delete %q: want after-publish, never or a duration such as 168h", m.Name, m.Delete)
	}
	return DeletePolicy{After: d}, nil
}

// Validate checks the settings that can be checked without the network.
func (m *Mailbox) Validate() error {
	if err := pipeline.CheckName("mailbox", m.Name); err != nil {
		return err
	}
	if m.Host == "" {
		return fmt.Errorf("mailbox %s: host is required", m.Name)
	}
	switch pop3.TLSMode(m.TLS) {
	case pop3.TLSImplicit, pop3.TLSStartTLS, pop3.TLSNone:
	default:
		return fmt.Errorf("mailbox %s: tls %q: want implicit, starttls or none", m.Name, m.TLS)
	}
	if m.Username == "" {
		return fmt.Errorf("mailbox %s: username is required", m.Name)
	}
	switch m.Auth {
	case "auto", "user", "apop", "plain", "login", "xoauth2", "oauthbearer":
	default:
		return fmt.Errorf("mailbox %s: auth %q: want auto, user, apop, plain, login, xoauth2 or oauthbearer", m.Name, m.Auth)
	}
	password := m.PasswordEnv != "" || m.PasswordFile != ""
	token := m.OAuthTokenEnv != "" || m.OAuthTokenFile != ""
	switch {
	case password && token:
		return fmt.Errorf("mailbox %s: both a password and an OAuth token are configured; keep one", m.Name)
	case !password && !token:
		return fmt.Errorf("mailbox %s: no secret configured: set password_env, password_file, oauth_token_env or oauth_token_file", m.Name)
	case token && (m.Auth == "user" || m.Auth == "apop" || m.Auth == "plain" || m.Auth == "login"):
		return fmt.Errorf("mailbox %s: auth %s needs a password, but an OAuth token is configured", m.Name, m.Auth)
	case password && (m.Auth == "xoauth2" || m.Auth == "oauthbearer"):
		return fmt.Errorf("mailbox %s: auth %s needs an OAuth token (oauth_token_env or oauth_token_file)", m.Name, m.Auth)
	}
	if _, err := m.Policy(); err != nil {
		return err
	}
	if m.PollInterval < time.Second {
		return fmt.Errorf("mailbox %s: poll_interval %s is below 1s", m.Name, m.PollInterval)
	}
	return nil
}

// Addr is host:port.
func (m *Mailbox) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// credentials reads the mailbox's secret from where the config says it is.
func (m *Mailbox) credentials() (pop3.Credentials, error) {
	c := pop3.Credentials{Username: m.Username, Method: m.Auth}
	var err error
	switch {
	case m.OAuthTokenEnv != "" || m.OAuthTokenFile != "":
		c.Token, err = config.Secret("mailbox "+m.Name+" oauth token", m.OAuthTokenEnv, m.OAuthTokenFile)
	case m.PasswordEnv != "" || m.PasswordFile != "":
		c.Password, err = config.Secret("mailbox "+m.Name+" password", m.PasswordEnv, m.PasswordFile)
	default:
		err = errors.New("mailbox " + m.Name + ": no secret configured: set password_env, password_file, oauth_token_env or oauth_token_file")
	}
	return c, err
}

func (m *Mailbox) pop3Config(log *slog.Logger) pop3.Config {
	return pop3.Config{
		Logger:             log.With("mailbox", m.Name),
		Addr:               m.Addr(),
		TLS:                pop3.TLSMode(m.TLS),
		ServerName:         m.ServerName,
		CAFile:             m.CAFile,
		InsecureSkipVerify: m.InsecureSkipVerify,
		AllowPlaintext:     m.AllowPlaintext,
		DialTimeout:        m.Timeout,
		CommandTimeout:     m.Timeout,
	}
}
