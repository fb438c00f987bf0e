// Package clamav is the built-in analyzer that sends every attachment, and
// every file inside the archives among them, to a ClamAV daemon (clamd)
// over its INSTREAM command, on a unix socket or TCP. A detection makes the
// message malicious; a file that could not be scanned is said so, never
// passed as clean.
package clamav

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive"
	"github.com/mailsift/mailsift/config"
)

// Name is the analyzer's name in configs and reports.
const Name = "clamav"

// VirusFound is the symbol of a detection.
const VirusFound = "VIRUS_FOUND"

var defaultScores = map[string]float64{VirusFound: 20}

// Config is the analyzer's section of the config file.
type Config struct {
	// Address of clamd: unix:///run/clamav/clamd.ctl (or a bare path) for
	// its LocalSocket, tcp://host:3310 (or host:3310) for its TCPSocket.
	Address string `yaml:"address"`
	// Timeout bounds connecting to clamd and scanning one file.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a file is tried again when clamd cannot be
	// reached or drops the connection, before the analysis fails (and the
	// pipeline retries the message later).
	Retries int `yaml:"retries"`
	// MaxSize is the largest file sent. Keep it at or below clamd's
	// StreamMaxLength (25M by default): past that clamd refuses the stream.
	MaxSize config.ByteSize `yaml:"max_size"`
	// ScanMessage also sends the whole raw message, so clamd's own mail
	// parser and its signatures for HTML and phishing see it.
	ScanMessage bool `yaml:"scan_message"`
	// ArchiveMembers also sends each file found inside an archive
	// attachment on its own. clamd opens archives itself; this covers
	// nesting and sizes past clamd's own limits, and names the file.
	ArchiveMembers bool `yaml:"archive_members"`
	// Archives bounds the opening of archives for ArchiveMembers.
	Archives archive.Limits `yaml:"archives"`
	// Scores overrides the score of VIRUS_FOUND.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		Address:        "unix:///run/clamav/clamd.ctl",
		Timeout:        30 * time.Second,
		Retries:        2,
		MaxSize:        25 << 20,
		ArchiveMembers: true,
		Archives:       archive.DefaultLimits(),
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Network:  true,
		Doc:      "every attachment and archived file scanned by clamd (INSTREAM over a unix socket or TCP)",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
	})
}

// Analyzer scans through clamd. It is safe for concurrent use: each file
// is scanned on a connection of its own.
type Analyzer struct {
	cfg     Config
	network string
	addr    string
	scores  map[string]float64
}

// New checks the config and builds the analyzer. It does not connect: clamd
// may start after mailsift, and a daemon that is down is an error of each
// analysis, retried, not of the configuration.
func New(cfg Config) (*Analyzer, error) {
	network, addr, err := parseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("timeout must be positive")
	}
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("retries must not be negative")
	}
	if cfg.MaxSize <= 0 {
		return nil, fmt.Errorf("max_size must be positive")
	}
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	return &Analyzer{cfg: cfg, network: network, addr: addr, scores: scores}, nil
}

func parseAddress(s string) (network, addr string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "unix://"):
		network, addr = "unix", strings.TrimPrefix(s, "unix://")
	case strings.HasPrefix(s, "tcp://"):
		network, addr = "tcp", strings.TrimPrefix(s, "tcp://")
	case strings.HasPrefix(s, "/"):
		network, addr = "unix", s
	default:
		network, addr = "tcp", s
	}
	if network == "tcp" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("address %q: want unix:///path/to/clamd.sock or tcp://host:port", s)
		}
	}
	if addr == "" {
		return "", "", fmt.Errorf("address %q: want unix:///path/to/clamd.sock or tcp://host:port", s)
	}
	return network, addr, nil
}

func (a *Analyzer) Name() string { return Name }

// Detection is one file clamd flagged.
type Detection struct {
	Part string `json:"part"`
	// Attachment is the file's name; a file inside an archive is named by
	// its path in it ("docs.zip!/eicar.txt").
	Attachment string `json:"attachment"`
	SHA256     string `json:"sha256"`
	Name       string `json:"name"` // the signature
}

// Skipped is one file that was not scanned.
type Skipped struct {
	Part       string `json:"part"`
	Attachment string `json:"attachment"`
	Size       int64  `json:"size"`
	Reason     string `json:"reason"`
}

// Data is what the analyzer reports in a result's data.
type Data struct {
	Detections []Detection `json:"detections"`
	// Scanned counts the files sent to clamd (each distinct content once).
	Scanned int       `json:"scanned"`
	Bytes   int64     `json:"bytes"`
	Skipped []Skipped `json:"skipped"`
	// Archives lists what kept the archive walker from seeing a whole
	// archive; clamd may still have opened it.
	Archives []archive.Issue `json:"archive_issues,omitempty"`
}

// target is one file to scan.
type target struct {
	part, label, sha256 string
	content             []byte
	size                int64
	truncated           bool
}

// Analyze scans the message's files. It returns an error when clamd could
// not be reached or failed, so that the message is tried again later.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	d := Data{Detections: []Detection{}, Skipped: []Skipped{}}
	targets, issues, err := a.targets(ctx, m)
	if err != nil {
		return analyzers.Result{}, err
	}
	d.Archives = issues
	verdicts := map[string]string{} // sha256 → signature ("" clean); each content is scanned once
	for _, t := range targets {
		if t.size > int64(a.cfg.MaxSize) || t.truncated {
			d.Skipped = append(d.Skipped, Skipped{Part: t.part, Attachment: t.label, Size: t.size,
				Reason: fmt.Sprintf("%d bytes, over max_size %d", t.size, int64(a.cfg.MaxSize))})
			continue
		}
		sig, seen := verdicts[t.sha256]
		if !seen {
			sig, err = a.scanRetrying(ctx, t.content)
			var tooLarge *tooLargeError
			if errors.As(err, &tooLarge) {
				d.Skipped = append(d.Skipped, Skipped{Part: t.part, Attachment: t.label, Size: t.size, Reason: tooLarge.Error()})
				continue
			}
			if err != nil {
				return analyzers.Result{}, fmt.Errorf("clamav: scanning %s (part %s): %w", t.label, t.part, err)
			}
			verdicts[t.sha256] = sig
			d.Scanned++
			d.Bytes += t.size
		}
		if sig != "" {
			d.Detections = append(d.Detections, Detection{Part: t.part, Attachment: t.label, SHA256: t.sha256, Name: sig})
		}
	}

	var r analyzers.Result
	var opts []string
	for _, det := range d.Detections {
		o := fmt.Sprintf("part %s %s: %s", det.Part, det.Attachment, det.Name)
		if !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	switch {
	case len(opts) > 0:
		r.Add(VirusFound, a.scores[VirusFound], opts...)
		r.Verdict = analyzers.VerdictMalicious
	case len(d.Skipped) > 0:
		// Some file went unscanned and nothing was found: that is not
		// clean.
		var why []string
		for _, s := range d.Skipped {
			why = append(why, fmt.Sprintf("part %s %s: %s", s.Part, s.Attachment, s.Reason))
		}
		r.Status = analyzers.StatusSkipped
		r.Verdict = analyzers.VerdictUnknown
		r.Error = "not scanned: " + strings.Join(why, "; ")
	default:
		r.Verdict = analyzers.VerdictClean
	}
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

// targets lists the files to scan: every attachment (an attached message
// through its own parts, which Parse lists too), the files inside archives
// when ArchiveMembers is set, and the raw message when ScanMessage is.
func (a *Analyzer) targets(ctx context.Context, m *analyzers.Message) ([]target, []archive.Issue, error) {
	var out []target
	var issues []archive.Issue
	if a.cfg.ScanMessage {
		out = append(out, target{part: "message", label: "whole message", sha256: sha256Hex(m.Raw), content: m.Raw, size: int64(len(m.Raw))})
	}
	for i := range m.Parts {
		p := &m.Parts[i]
		if !p.Attachment || p.ContentType == "message/rfc822" || p.ContentType == "message/global" {
			continue
		}
		label := p.Filename
		if label == "" {
			label = "(" + p.ContentType + ")"
		}
		out = append(out, target{part: p.Path, label: label, sha256: p.SHA256, content: p.Content, size: p.Size, truncated: p.Truncated})
		if !a.cfg.ArchiveMembers || p.Truncated || archive.Detect(p.Content) == "" {
			continue
		}
		sum, err := archive.Walk(ctx, label, p.Content, a.cfg.Archives, func(f *archive.File) error {
			// Nested archives reach clamd with the archive that holds
			// them; their files follow on their own.
			if f.Encrypted || f.Archive != "" {
				return nil
			}
			// Content is only valid during the call: keep a copy.
			out = append(out, target{part: p.Path, label: f.Path, sha256: f.SHA256, content: bytes.Clone(f.Content), size: f.Size})
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		issues = append(issues, sum.Issues...)
	}
	return out, issues, nil
}

// tooLargeError is clamd refusing a stream over its StreamMaxLength.
type tooLargeError struct{ reply string }

func (e *tooLargeError) Error() string {
	return "clamd refused it: " + e.reply + " (raise StreamMaxLength in clamd.conf or lower max_size)"
}

// scanRetrying scans content, trying again after connection failures.
func (a *Analyzer) scanRetrying(ctx context.Context, content []byte) (string, error) {
	var err error
	for attempt := 0; attempt <= a.cfg.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		var sig string
		sig, err = a.Scan(ctx, bytes.NewReader(content))
		var reply *replyError
		if err == nil || errors.As(err, &reply) || errors.Is(err, errTimeout) || ctx.Err() != nil {
			// clamd answered (a verdict, or an error of its own that
			// the same bytes would meet again), or it is too slow now:
			// retrying at once would only add another timeout, so the
			// pipeline's later retry is the better one.
			return sig, err
		}
	}
	return "", err
}

// errTimeout marks a scan that ran out of time.
var errTimeout = errors.New("timed out")

// replyError is an ERROR reply from clamd.
type replyError struct{ reply string }

func (e *replyError) Error() string { return "clamd: " + e.reply }

// chunkSize is how much is sent per INSTREAM chunk.
const chunkSize = 64 << 10

// Scan sends r to clamd with INSTREAM and returns the signature found, or
// "" when clamd says the stream is clean.
func (a *Analyzer) Scan(ctx context.Context, r io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, a.network, a.addr)
	if err != nil {
		return "", fmt.Errorf("connecting to clamd at %s: %w", a.cfg.Address, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Closing the connection is what interrupts a blocked read or write
	// when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	werr := a.send(conn, r)
	// clamd replies, then closes, when it refuses a stream midway (size
	// limit): read the reply even after a failed write.
	reply, rerr := readReply(conn)
	if rerr != nil {
		if werr != nil {
			rerr = werr
		}
		if errors.Is(rerr, os.ErrDeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("clamd at %s: no answer within %v: %w", a.cfg.Address, a.cfg.Timeout, errTimeout)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("clamd at %s: %w", a.cfg.Address, ctx.Err())
		}
		return "", fmt.Errorf("clamd at %s: %w", a.cfg.Address, rerr)
	}
	return parseReply(reply)
}

func (a *Analyzer) send(w io.Writer, r io.Reader) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, 4+chunkSize)
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf, uint32(n))
			if _, werr := w.Write(buf[:4+n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return err
}

// readReply reads one NUL-terminated reply (a z-command's), bounded so a
// peer that is not clamd cannot make it read forever.
func readReply(r io.Reader) (string, error) {
	var buf bytes.Buffer
	b := make([]byte, 512)
	for buf.Len() < 4096 {
		n, err := r.Read(b)
		buf.Write(b[:n])
		if i := bytes.IndexByte(buf.Bytes(), 0); i >= 0 {
			return string(buf.Bytes()[:i]), nil
		}
		if err == io.EOF {
			if buf.Len() > 0 {
				return strings.TrimRight(buf.String(), "\n"), nil
			}
			return "", errors.New("connection closed without a reply")
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("reply longer than 4096 bytes: not clamd")
}

// parseReply reads "stream: OK", "stream: <signature> FOUND" or
// "<message> ERROR".
func parseReply(reply string) (string, error) {
	s := strings.TrimSpace(reply)
	switch {
	case strings.HasSuffix(s, " FOUND"):
		s = strings.TrimSuffix(strings.TrimPrefix(s, "stream: "), " FOUND")
		return strings.TrimSpace(s), nil
	case s == "stream: OK":
		return "", nil
	case strings.HasSuffix(s, "ERROR"):
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "stream: "), "ERROR"))
		if strings.Contains(s, "size limit exceeded") {
			return "", &tooLargeError{reply: s}
		}
		return "", &replyError{reply: s}
	}
	return "", fmt.Errorf("unexpected reply %q: is this clamd?", trimForError(s))
}

func trimForError(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Ping checks that clamd answers.
func (a *Analyzer) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, a.network, a.addr)
	if err != nil {
		return fmt.Errorf("connecting to clamd at %s: %w", a.cfg.Address, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, "zPING\x00"); err != nil {
		return fmt.Errorf("clamd at %s: %w", a.cfg.Address, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return fmt.Errorf("clamd at %s: %w", a.cfg.Address, err)
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd at %s: PING answered %q", a.cfg.Address, trimForError(reply))
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
