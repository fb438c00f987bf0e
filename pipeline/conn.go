// Package pipeline is everything mailsift does with NATS: connecting to a
// cluster or starting an embedded server, creating the streams, consumers
// and buckets of the wire contract in one place, the analyzer workers, the
// reporter that joins results into reports, and the outputs.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailsift/mailsift/config"
)

// Config is the `nats:` section.
type Config struct {
	// URL of a NATS cluster ("nats://a:4222,nats://b:4222"); empty starts an
	// embedded server inside this process.
	URL string `yaml:"url"`
	// CredsFile, or a user with PasswordEnv/PasswordFile, or TokenEnv
	// authenticate to a remote cluster.
	CredsFile    string `yaml:"creds_file"`
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	TokenEnv     string `yaml:"token_env"`
	CAFile       string `yaml:"ca_file"`
	// StoreDir is where the embedded server keeps JetStream data.
	StoreDir string `yaml:"store_dir"`
	// Listen, when set, lets the embedded server accept TCP clients too
	// (e.g. "127.0.0.1:4222"), so other mailsift processes can share it.
	Listen string `yaml:"listen"`
	// MaxPayload of the embedded server; larger mail goes to the object store.
	MaxPayload config.ByteSize `yaml:"max_payload"`
	// SyncAlways makes the embedded server fsync every write; by default it
	// syncs every two minutes and relies on the OS page cache in between.
	SyncAlways bool `yaml:"sync_always"`
	// Replicas of every stream and bucket: 1 embedded, 3 on a cluster.
	Replicas int `yaml:"replicas"`
	// MaxAge and MaxBytes bound the MAIL stream (limits retention), so a new
	// analyzer can replay past mail.
	MaxAge   time.Duration   `yaml:"max_age"`
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// DuplicateWindow is how long JetStream remembers message ids for
	// dedupe; ingest's KV state covers the time beyond it.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// Compression of the MAIL stream: "none" (default) or "s2", which
	// roughly halves the disk mail takes at a large cost in CPU. JetStream
	// applies a change to a stream created before only for new blocks.
	Compression string `yaml:"compression"`
}

// Defaults returns the `nats:` section as it is when the config says nothing.
func Defaults() Config {
	return Config{
		StoreDir:        "./data",
		MaxPayload:      1 << 20,
		Replicas:        1,
		MaxAge:          7 * 24 * time.Hour,
		DuplicateWindow: 2 * time.Hour,
		Compression:     "none",
	}
}

// Validate checks what can be checked before connecting.
func (c Config) Validate() error {
	if c.URL == "" && c.Replicas > 1 {
		return fmt.Errorf("nats.replicas %d needs a cluster: the embedded server (no nats.url) keeps one copy; set replicas: 1", c.Replicas)
	}
	if c.Replicas > 5 {
		return fmt.Errorf("nats.replicas %d: JetStream allows at most 5", c.Replicas)
	}
	if c.MaxAge > 0 && c.MaxAge < max(c.DuplicateWindow, time.Hour) {
		return fmt.Errorf("nats.max_age %s is shorter than the duplicate window %s (at least 1h)", c.MaxAge, max(c.DuplicateWindow, time.Hour))
	}
	if c.Compression != "" && c.Compression != "none" && c.Compression != "s2" {
		return fmt.Errorf("nats.compression %q: want none or s2", c.Compression)
	}
	if c.URL == "" && (c.CredsFile != "" || c.User != "" || c.TokenEnv != "") {
		return errors.New("nats: credentials are set but nats.url is empty (the embedded server needs none)")
	}
	return nil
}

// Conn is a live connection to JetStream, and the embedded server when
// mailsift started one.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	pub *publisher
	cfg Config
	srv *server.Server
	log *slog.Logger
}

// Connect connects to cfg.URL, or starts an embedded server when it is empty.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Conn{cfg: cfg, log: log, pub: newPublisher()}
	opts := []nats.Option{
		nats.Name("mailsift"),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.pub.connectionLost()
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := cfg.URL
	if url == "" {
		srv, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		c.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	} else {
		auth, err := authOptions(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, auth...)
		opts = append(opts, nats.Timeout(10*time.Second))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.shutdownServer()
		return nil, fmt.Errorf("nats %s: connect: %w", describeURL(url), err)
	}
	c.NC = nc
	if err := c.pub.subscribe(nc); err != nil {
		c.Close()
		return nil, fmt.Errorf("nats %s: %w", describeURL(url), err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("nats %s: jetstream: %w", describeURL(url), err)
	}
	c.JS = js
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitJetStream(wctx, js); err != nil {
		c.Close()
		return nil, fmt.Errorf("nats %s: %w", describeURL(url), err)
	}
	return c, nil
}

// Embedded reports whether this Conn runs its own server.
func (c *Conn) Embedded() bool { return c.srv != nil }

// ClientURL is the TCP address of the embedded server when it listens, else
// the configured URL.
func (c *Conn) ClientURL() string {
	if c.srv != nil && c.cfg.Listen != "" {
		return c.srv.ClientURL()
	}
	return c.cfg.URL
}

// Close drains the client first, so acks in flight reach the server, then
// stops the embedded server.
func (c *Conn) Close() {
	if c.NC != nil {
		done := make(chan struct{})
		c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := c.NC.Drain(); err == nil {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
		c.NC.Close()
	}
	c.shutdownServer()
}

func (c *Conn) shutdownServer() {
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
		c.srv = nil
	}
}

func startEmbedded(cfg Config, log *slog.Logger) (*server.Server, error) {
	dir := cfg.StoreDir
	if dir == "" {
		dir = "./data"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("nats embedded: store_dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("nats embedded: store_dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "mailsift",
		JetStream:  true,
		StoreDir:   abs,
		NoSigs:     true,
		SyncAlways: cfg.SyncAlways,
		DontListen: cfg.Listen == "",
	}
	if cfg.MaxPayload > 0 {
		opts.MaxPayload = int32(cfg.MaxPayload)
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats embedded: listen %q: %w", cfg.Listen, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT // ":0" means any free port, as with net.Listen
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats embedded: %w", err)
	}
	srv.SetLoggerV2(serverLog{log.With("component", "nats-server")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats embedded: server in %s not ready after 30s", abs)
	}
	log.Debug("embedded nats-server started", "store_dir", abs)
	return srv, nil
}

func authOptions(cfg Config) ([]nats.Option, error) {
	var opts []nats.Option
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.User != "" {
		pw, err := config.Secret("nats password", cfg.PasswordEnv, cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(cfg.User, pw))
	}
	if cfg.TokenEnv != "" {
		tok, err := config.Secret("nats token", cfg.TokenEnv, "")
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	return opts, nil
}

func describeURL(url string) string {
	if url == "" {
		return "embedded"
	}
	return url
}

// serverLog routes the embedded server's log through slog, so mailsift has
// one log stream with one format.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(f string, v ...any) { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLog) Warnf(f string, v ...any)   { s.l.Warn(fmt.Sprintf(f, v...)) }
func (s serverLog) Fatalf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLog) Errorf(f string, v ...any)  { s.l.Error(fmt.Sprintf(f, v...)) }
func (s serverLog) Debugf(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }
func (s serverLog) Tracef(f string, v ...any)  { s.l.Debug(fmt.Sprintf(f, v...)) }

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

// waitJetStream blocks until the JetStream API answers. On a cluster that is
// just starting, requests sent before a meta leader exists get no reply at
// all, so asking once with a short deadline, in a loop, is the only way.
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream not available: %w", last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
