package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// maxLogLine bounds one line of a plugin's stderr; the rest of a longer
// line is dropped, so a plugin cannot make mailsift buffer without end.
const maxLogLine = 64 << 10

// stderrLog turns a plugin's stderr into mailsift log records carrying the
// plugin's name. A line that is a JSON object with a level and a message
// (hclog's "@level"/"@message", or slog's "level"/"msg") keeps its level and
// its other keys; a line starting "[WARN]" and the like keeps that level;
// any other line is logged at info, so nothing a plugin says is lost at the
// default level.
//
// It replaces go-plugin's own parsing of stderr, which panics (taking the
// host down) on a JSON line whose "@message" is not a string.
type stderrLog struct {
	log *slog.Logger

	mu      sync.Mutex
	buf     []byte
	dropped bool
	last    string // the latest line, for the error of a failed start
}

func newStderrLog(l *slog.Logger) *stderrLog { return &stderrLog{log: l} }

func (w *stderrLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLogLine - len(w.buf); len(chunk) > room {
			chunk = chunk[:max(room, 0)]
			w.dropped = true
		}
		w.buf = append(w.buf, chunk...)
		if i < 0 {
			break
		}
		w.line(w.buf, w.dropped)
		w.buf, w.dropped = w.buf[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// lastLine returns the latest line the plugin wrote.
func (w *stderrLog) lastLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *stderrLog) line(b []byte, cut bool) {
	b = bytes.TrimRight(b, "\r")
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	level, msg, attrs := parseLogLine(b)
	w.last = msg
	if cut {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	w.log.LogAttrs(context.Background(), level, msg, attrs...)
}

var levelNames = map[string]slog.Level{
	"trace": slog.LevelDebug, "debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
	"err": slog.LevelError, "critical": slog.LevelError, "fatal": slog.LevelError,
}

func parseLogLine(b []byte) (slog.Level, string, []slog.Attr) {
	if b[0] == '{' {
		var obj map[string]any
		if json.Unmarshal(b, &obj) == nil {
			if level, msg, ok := logFields(obj); ok {
				var attrs []slog.Attr
				for _, k := range slices.Sorted(maps.Keys(obj)) {
					attrs = append(attrs, slog.Any(k, obj[k]))
				}
				return level, msg, attrs
			}
		}
	}
	s := string(b)
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			if level, ok := levelNames[strings.ToLower(s[1:end])]; ok {
				return level, strings.TrimSpace(s[end+1:]), nil
			}
		}
	}
	return slog.LevelInfo, s, nil
}

// logFields takes the level and message out of a JSON log line, leaving
// the other keys; ok is false when the line is not a log record.
func logFields(obj map[string]any) (slog.Level, string, bool) {
	var (
		level    slog.Level
		msg      string
		hasLevel bool
		hasMsg   bool
	)
	for _, k := range []string{"@level", "level"} {
		if v, ok := obj[k].(string); ok {
			if l, known := levelNames[strings.ToLower(v)]; known {
				level, hasLevel = l, true
				delete(obj, k)
				break
			}
		}
	}
	for _, k := range []string{"@message", "msg", "message"} {
		if v, ok := obj[k]; ok {
			msg, hasMsg = fmt.Sprint(v), true
			delete(obj, k)
			break
		}
	}
	// The plugin's own clock and name add nothing to mailsift's record.
	for _, k := range []string{"@timestamp", "timestamp", "time", "@module"} {
		delete(obj, k)
	}
	return level, msg, hasLevel && hasMsg
}

// hcLogger passes go-plugin's own log lines (starting, exiting, dialing) to
// slog at debug level, its errors (a process that exited with an error) at
// warn: the host logs what matters (a crash, a restart) itself, with more
// context.
//
// The logger go-plugin names after the plugin's executable is the one it
// feeds the plugin's stderr to; it reports itself off, so go-plugin leaves
// stderr to stderrLog.
type hcLogger struct {
	log   *slog.Logger
	name  string
	off   bool
	quiet bool // every level at debug
	exe   string
	args  []any
}

func newHCLogger(l *slog.Logger, exe string) *hcLogger {
	return &hcLogger{log: l, exe: exe}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if h.off {
		return
	}
	sl := slog.LevelDebug
	if level >= hclog.Error && !h.quiet {
		sl = slog.LevelWarn
	}
	if !h.log.Enabled(context.Background(), sl) {
		return
	}
	all := append(append([]any{}, h.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		// go-plugin names the executable "plugin", which is the key of the
		// plugin's configured name in mailsift's records.
		if all[i] == "plugin" {
			all[i] = "executable"
		}
	}
	if h.name != "" {
		all = append(all, "component", h.name)
	}
	h.log.Log(context.Background(), sl, "go-plugin: "+msg, all...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) IsTrace() bool { return false }
func (h *hcLogger) IsDebug() bool {
	return !h.off && h.log.Enabled(context.Background(), slog.LevelDebug)
}
func (h *hcLogger) IsInfo() bool  { return h.IsDebug() }
func (h *hcLogger) IsWarn() bool  { return !h.off }
func (h *hcLogger) IsError() bool { return !h.off }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	switch {
	case name == h.exe && h.name == "":
		c.off = true
	case name == "stdio":
		// Plugins in other languages have no stdio service; go-plugin warns
		// about that on every start.
		c.quiet = true
	}
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = ""
	return c.Named(name)
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level {
	if h.off {
		return hclog.Off
	}
	if h.IsDebug() {
		return hclog.Debug
	}
	return hclog.Warn
}

func (h *hcLogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)
}

func (h *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}
