// Package plugins runs analyzers that live in their own processes: programs
// in any language that serve the mailsift.plugin.v1 gRPC contract
// (plugins/proto) behind hashicorp/go-plugin's handshake.
//
// A Plugin is an analyzers.Analyzer, so the pipeline's workers and `mailsift
// scan` run it like a built-in one, with the same timeouts, retries, dead
// letters and metrics. The host supervises the process: it checks the
// executable's checksum before starting it, bounds every call by a timeout,
// restarts a plugin that crashed or hangs with a growing delay, and turns an
// answer that is not a valid result into an error result. Nothing a plugin
// does takes mailsift down.
//
// Go plugins are written with plugins/sdk; examples/plugins holds one in Go
// and one in Python.
package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/plugins/internal/wire"
	pluginv1 "github.com/mailsift/mailsift/plugins/proto/mailsift/plugin/v1"
)

// ProtocolVersion is the version of the plugin contract this mailsift
// speaks (mailsift.plugin.v1).
const ProtocolVersion = wire.ProtocolVersion

const (
	// startTimeout bounds the wait for a plugin's handshake line: a Python
	// interpreter importing gRPC takes half a second on an idle machine.
	startTimeout = 20 * time.Second
	// describeTimeout bounds the Describe call after each start.
	describeTimeout = 10 * time.Second
	// minBackoff and maxBackoff bound the delay before restarting a plugin
	// that crashed or failed to start; it doubles with each failure in a
	// row and resets after a good answer.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
	// maxTimeouts is how many calls in a row may time out before the
	// plugin is restarted even though it still answers health checks: a
	// plugin whose every call hangs is wedged, and each abandoned call may
	// hold a thread or a goroutine in it.
	maxTimeouts = 3
	// pingTimeout bounds the health check after a call timed out; a plugin
	// on a loaded machine may be slow, a wedged one never answers.
	pingTimeout = 2 * time.Second
)

// Input says what of a message a plugin reads.
type Input string

const (
	InputRaw    Input = "raw"
	InputParsed Input = "parsed"
	InputBoth   Input = "both"
)

// Description is what a plugin says about itself in Describe.
type Description struct {
	Name    string
	Version string
	Doc     string
	Needs   Input
	// Timeout is the plugin's default call timeout; 0 when it names none.
	Timeout  time.Duration
	Security bool
	// Protocol is the contract version negotiated in the handshake.
	Protocol int
}

// ErrInvalidResult is wrapped by the error of a call whose answer was not a
// valid result: an unknown status or verdict, a score that is not a number,
// data that is not JSON.
var ErrInvalidResult = wire.ErrInvalidResult

// ErrPluginFailed is wrapped by the error of a call that the plugin itself
// failed (an exception, an unimplemented method) while staying up:
// retrying the same message will not help.
var ErrPluginFailed = errors.New("plugin failed the call")

// Plugin is one configured plugin: an analyzer whose work is done by a
// supervised child process. It is safe for concurrent use.
type Plugin struct {
	cfg      Config
	path     string
	checksum []byte
	log      *slog.Logger
	sem      chan struct{}
	security bool

	mu       sync.Mutex
	cur      *instance
	desc     Description
	starting chan struct{} // closed when the start in progress ends
	failures int           // crashes and failed starts since the last good answer
	retryAt  time.Time     // no start before this
	lastErr  error
	timeouts int // calls in a row that timed out
	closed   bool
}

// instance is one run of the plugin's process.
type instance struct {
	client *plugin.Client
	conn   *grpc.ClientConn
	rpc    pluginv1.AnalyzerClient
	desc   Description
	raw    bool
	parsed bool
	killed sync.Once
}

// Start validates cfg, starts the plugin and asks it to describe itself, so
// a plugin that cannot run (a wrong checksum, a protocol version mailsift
// does not speak, a program that is not a plugin) is an error at start-up
// rather than on the first message. log receives the plugin's stderr and
// the host's notes about it, each with the plugin's name.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path, err := cfg.commandPath()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Plugin{
		cfg:  cfg,
		path: path,
		log:  log.With("plugin", cfg.Name),
		sem:  make(chan struct{}, cfg.maxConcurrency()),
	}
	if cfg.SHA256 != "" {
		p.checksum, _ = hex.DecodeString(cfg.SHA256)
	}
	inst, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.cur, p.desc = inst, inst.desc
	p.security = inst.desc.Security
	if cfg.Security != nil {
		p.security = *cfg.Security
	}
	p.log.Debug("plugin started", "command", path, "version", inst.desc.Version,
		"protocol", inst.desc.Protocol, "needs", inst.desc.Needs, "auto_mtls", cfg.autoMTLS())
	return p, nil
}

// Name is the analyzer's name: the one the config gives.
func (p *Plugin) Name() string { return p.cfg.Name }

// Security says whether a failure of this plugin leaves a message's safety
// unknown: the config's security when set, else the plugin's Describe.
func (p *Plugin) Security() bool { return p.security }

// Description is what the plugin said about itself at its latest start.
func (p *Plugin) Description() Description {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.desc
}

// Timeout is the bound on one call.
func (p *Plugin) Timeout() time.Duration {
	return p.timeout(p.Description())
}

func (p *Plugin) timeout(d Description) time.Duration {
	switch {
	case p.cfg.Timeout > 0:
		return p.cfg.Timeout
	case d.Timeout > 0:
		return d.Timeout
	}
	return DefaultTimeout
}

// Analyze implements analyzers.Analyzer. A plugin that crashed, hangs or
// cannot be started gives an error, which the pipeline retries (by then
// the plugin is restarted) and finally records as an error result; a
// plugin that answered with something that is not a result, or failed the
// call itself, gives an error result at once, since asking again would
// give the same.
func (p *Plugin) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	res, err := p.Call(ctx, m)
	if errors.Is(err, ErrInvalidResult) || errors.Is(err, ErrPluginFailed) {
		return analyzers.Failed(p.Name(), analyzers.StatusError, err), nil
	}
	return res, err
}

// Call is Analyze with every failure as an error: `mailsift plugin check`
// wants to stop at the first one, whatever its kind.
func (p *Plugin) Call(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return analyzers.Result{}, fmt.Errorf("plugin %s: waiting for a free call slot: %w", p.Name(), ctx.Err())
	}
	defer func() { <-p.sem }()

	inst, err := p.instance(ctx)
	if err != nil {
		return analyzers.Result{}, err
	}
	req := wire.Request(m, inst.raw, inst.parsed)
	own := p.timeout(inst.desc)
	timeout := own
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		// The caller's own deadline comes first; say so in the error.
		timeout = time.Until(dl).Round(time.Millisecond)
	}
	if timeout <= 0 {
		return analyzers.Result{}, fmt.Errorf("plugin %s: no time left for the call: %w", p.Name(), context.DeadlineExceeded)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := inst.rpc.Analyze(cctx, req)
	if err != nil {
		// A call cut short by the caller's deadline counts against the
		// plugin only when it had a fair share of its own time.
		fair := timeout >= min(own, time.Second)
		return analyzers.Result{}, p.callFailed(ctx, cctx, inst, timeout, fair, err)
	}
	if resp.GetRetry() {
		// The plugin is fine; what it depends on is not. The worker's retry
		// with a growing delay is the right answer.
		p.answered(inst)
		return analyzers.Result{}, fmt.Errorf("plugin %s: %s", p.Name(), orDefault(resp.GetError(), "asked to try again later"))
	}
	res, err := wire.ResultFromProto(p.Name(), resp)
	if err != nil {
		return analyzers.Result{}, fmt.Errorf("plugin %s returned an invalid result: %w", p.Name(), err)
	}
	p.answered(inst)
	return res, nil
}

// callFailed says why a call failed and takes the plugin out of service
// when the failure is the process's.
func (p *Plugin) callFailed(ctx, cctx context.Context, inst *instance, timeout time.Duration, fair bool, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller gave up (a shutdown): nothing is known about the
		// plugin.
		return fmt.Errorf("plugin %s: %w", p.Name(), ctx.Err())
	case cctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded:
		// gRPC's own timer on the deadline may fire a moment before the
		// context's.
		if fair {
			p.timedOut(inst)
		}
		return fmt.Errorf("plugin %s: no answer within %s", p.Name(), timeout)
	}
	code := status.Code(err)
	if code == codes.Unavailable || code == codes.Canceled || inst.client.Exited() {
		why := "connection lost"
		if p.waitExit(inst, time.Second) {
			why = "process exited"
		}
		p.retire(inst, fmt.Errorf("%s during a call: %s", why, status.Convert(err).Message()))
		return fmt.Errorf("plugin %s: %s during the call; restarting it", p.Name(), why)
	}
	return fmt.Errorf("plugin %s: %w: %s: %s", p.Name(), ErrPluginFailed, code, status.Convert(err).Message())
}

// waitExit reports whether the process has exited, waiting up to d: a
// broken connection is usually a process going away.
func (p *Plugin) waitExit(inst *instance, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if inst.client.Exited() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answered notes a good answer: the plugin is healthy again.
func (p *Plugin) answered(inst *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == inst {
		p.failures, p.timeouts, p.lastErr = 0, 0, nil
	}
}

// timedOut counts a call that ran out of time, and restarts the plugin when
// it no longer answers a health check or timed out too often in a row.
func (p *Plugin) timedOut(inst *instance) {
	p.mu.Lock()
	if p.cur != inst {
		p.mu.Unlock()
		return
	}
	p.timeouts++
	n := p.timeouts
	p.mu.Unlock()
	if n >= maxTimeouts {
		p.retire(inst, fmt.Errorf("%d calls in a row timed out", n))
		return
	}
	// The check runs aside: the caller has waited long enough.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		_, err := grpc_health_v1.NewHealthClient(inst.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
		if err != nil {
			p.retire(inst, fmt.Errorf("a call timed out and the health check failed: %s", status.Convert(err).Message()))
		}
	}()
}

// retire takes a broken instance out of service and kills it; the next call
// starts a new one once the backoff has passed.
func (p *Plugin) retire(inst *instance, why error) {
	p.mu.Lock()
	if p.cur == inst {
		p.cur = nil
		p.noteFailure(why)
		p.log.Warn("plugin out of service; restarting it", "reason", why, "restart_in", time.Until(p.retryAt).Round(time.Millisecond))
	}
	p.mu.Unlock()
	go inst.kill()
}

// noteFailure must be called with p.mu held.
func (p *Plugin) noteFailure(err error) {
	p.failures++
	p.timeouts = 0
	p.lastErr = err
	d := minBackoff
	for i := 1; i < p.failures && d < maxBackoff; i++ {
		d *= 2
	}
	p.retryAt = time.Now().Add(min(d, maxBackoff))
}

// instance returns the running instance, starting one when there is none.
// Concurrent callers share one start; a start waits out the backoff, or
// fails at once when the caller cannot wait that long.
func (p *Plugin) instance(ctx context.Context) (*instance, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("plugin %s: closed", p.Name())
		}
		if inst := p.cur; inst != nil {
			if !inst.client.Exited() {
				p.mu.Unlock()
				return inst, nil
			}
			// It died between calls.
			p.cur = nil
			p.noteFailure(errors.New("process exited"))
			p.log.Warn("plugin exited; restarting it", "restart_in", time.Until(p.retryAt).Round(time.Millisecond))
			go inst.kill()
		}
		if ch := p.starting; ch != nil {
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("plugin %s: waiting for it to start: %w", p.Name(), ctx.Err())
			}
		}
		wait := time.Until(p.retryAt)
		if dl, ok := ctx.Deadline(); ok && wait > 0 && time.Until(dl) < wait {
			err := fmt.Errorf("plugin %s is down (%d failures in a row, next start in %s): %v",
				p.Name(), p.failures, wait.Round(time.Millisecond), p.lastErr)
			p.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		p.starting = ch
		p.mu.Unlock()

		inst, err := p.startAfter(ctx, wait)

		p.mu.Lock()
		p.starting = nil
		close(ch)
		switch {
		case err != nil && ctx.Err() != nil:
			// The caller left during the wait or the start: not the
			// plugin's failure.
		case err != nil:
			p.noteFailure(err)
			p.log.Warn("plugin failed to start", "err", err, "next_try_in", time.Until(p.retryAt).Round(time.Millisecond))
		case p.closed:
			err = fmt.Errorf("plugin %s: closed", p.Name())
			go inst.kill()
		default:
			p.cur, p.desc = inst, inst.desc
			p.log.Info("plugin restarted", "version", inst.desc.Version)
		}
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return inst, nil
	}
}

func (p *Plugin) startAfter(ctx context.Context, wait time.Duration) (*instance, error) {
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %s: waiting to restart: %w", p.Name(), ctx.Err())
		}
	}
	return p.start(ctx)
}

// start runs the executable once: checksum, handshake, Describe.
func (p *Plugin) start(ctx context.Context) (*instance, error) {
	cmd := exec.Command(p.path, p.cfg.Args...)
	cmd.Env = p.cfg.environ()
	setParentDeathSignal(cmd)
	var secure *plugin.SecureConfig
	if p.checksum != nil {
		secure = &plugin.SecureConfig{Checksum: p.checksum, Hash: sha256.New()}
	}
	stderr := newStderrLog(p.log)
	ccfg := &plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: wire.ClientPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     secure,
		AutoMTLS:         p.cfg.autoMTLS(),
		StartTimeout:     startTimeout,
		Logger:           newHCLogger(p.log, filepath.Base(p.path)),
		Stderr:           stderr,
	}
	client := plugin.NewClient(ccfg)
	fail := func(err error) (*instance, error) {
		client.Kill()
		return nil, err
	}
	proto, err := client.Client()
	if err != nil {
		// Kill waits until the plugin's stderr is read to the end, so its
		// last line is there to quote.
		client.Kill()
		err = p.startError(err)
		if last := stderr.lastLine(); last != "" {
			err = fmt.Errorf("%w (its last words on stderr: %q)", err, last)
		}
		return nil, err
	}
	if ccfg.AutoMTLS && (ccfg.TLSConfig == nil || ccfg.TLSConfig.RootCAs == nil) {
		return fail(fmt.Errorf("plugin %s: sent no certificate in its handshake, so AutoMTLS cannot work; a plugin not built on go-plugin must be configured with auto_mtls: false", p.Name()))
	}
	gc, ok := proto.(*plugin.GRPCClient)
	if !ok {
		return fail(fmt.Errorf("plugin %s: not a gRPC plugin", p.Name()))
	}
	raw, err := proto.Dispense(wire.PluginName)
	if err != nil {
		return fail(fmt.Errorf("plugin %s: %w", p.Name(), err))
	}
	// Each contract version has its own client type; a host that speaks
	// several picks the code path here by NegotiatedVersion.
	rpc, ok := raw.(pluginv1.AnalyzerClient)
	if !ok {
		return fail(fmt.Errorf("plugin %s: protocol version %d has no client in this mailsift", p.Name(), client.NegotiatedVersion()))
	}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	d, err := rpc.Describe(dctx, &pluginv1.DescribeRequest{})
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return fail(fmt.Errorf("plugin %s: does not serve the mailsift.plugin.v1 Analyzer service: %s", p.Name(), status.Convert(err).Message()))
		}
		return fail(fmt.Errorf("plugin %s: describe: %s", p.Name(), status.Convert(err).Message()))
	}
	desc, err := describe(d, client.NegotiatedVersion())
	if err != nil {
		return fail(fmt.Errorf("plugin %s: describe: %w", p.Name(), err))
	}
	inst := &instance{client: client, conn: gc.Conn, rpc: rpc, desc: desc}
	inst.raw, inst.parsed = wire.InputNeeds(d.GetNeeds())
	return inst, nil
}

func describe(d *pluginv1.DescribeResponse, protocol int) (Description, error) {
	desc := Description{
		Name: d.GetName(), Version: d.GetVersion(), Doc: d.GetDoc(), Security: d.GetSecurity(),
		Protocol: protocol,
	}
	switch d.GetNeeds() {
	case pluginv1.Input_INPUT_RAW:
		desc.Needs = InputRaw
	case pluginv1.Input_INPUT_PARSED:
		desc.Needs = InputParsed
	case pluginv1.Input_INPUT_BOTH, pluginv1.Input_INPUT_UNSPECIFIED:
		desc.Needs = InputBoth
	default:
		return desc, fmt.Errorf("unknown input %d", d.GetNeeds())
	}
	if ms := d.GetTimeoutMs(); ms < 0 {
		return desc, fmt.Errorf("negative timeout %d ms", ms)
	} else {
		desc.Timeout = time.Duration(ms) * time.Millisecond
	}
	return desc, nil
}

var versionMismatch = regexp.MustCompile(`Plugin version: (\d+), Client versions: \[([\d ]*)\]`)

// startError makes go-plugin's start errors one line that says what to do.
func (p *Plugin) startError(err error) error {
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		got := "unreadable"
		if sum, err := fileSHA256(p.path); err == nil {
			got = sum
		}
		return fmt.Errorf("plugin %s: refusing to start %s: its sha256 is %s, the config says %s",
			p.Name(), p.path, got, strings.ToLower(p.cfg.SHA256))
	}
	msg := err.Error()
	if m := versionMismatch.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("plugin %s speaks plugin protocol version %s, this mailsift speaks version %s (mailsift.plugin.v%d): build the plugin against a matching SDK",
			p.Name(), m[1], strings.ReplaceAll(m[2], " ", ", "), ProtocolVersion)
	}
	if rest, ok := strings.CutPrefix(msg, "Unrecognized remote plugin message: "); ok {
		first, _, _ := strings.Cut(rest, "\n")
		if first == "" {
			return fmt.Errorf("plugin %s: %s exited without printing its handshake line", p.Name(), p.path)
		}
		return fmt.Errorf("plugin %s: not a mailsift plugin: its first line of output was %q, not a go-plugin handshake", p.Name(), first)
	}
	if msg == "plugin exited before we could connect" {
		// go-plugin says this or the above, whichever it notices first.
		return fmt.Errorf("plugin %s: %s exited without printing its handshake line", p.Name(), p.path)
	}
	first, _, _ := strings.Cut(msg, "\n")
	return fmt.Errorf("plugin %s: start %s: %s", p.Name(), p.path, first)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (i *instance) kill() {
	i.killed.Do(i.client.Kill)
}

// Close stops the plugin's process. Calls after Close fail.
func (p *Plugin) Close() error {
	p.mu.Lock()
	p.closed = true
	inst := p.cur
	p.cur = nil
	p.mu.Unlock()
	if inst != nil {
		inst.kill()
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
