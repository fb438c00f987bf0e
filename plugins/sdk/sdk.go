// Package sdk is what a Go plugin for mailsift imports. A plugin is an
// ordinary analyzers.Analyzer handed to Serve in its main function:
//
//	func main() { sdk.Serve(myAnalyzer{}) }
//
// mailsift starts the program, speaks the mailsift.plugin.v1 contract with
// it over gRPC, and puts its results in every report beside the built-in
// analyzers'. RunFiles tests an analyzer over .eml files through that same
// contract, in the test's own process.
package sdk

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/plugins/internal/wire"
	pluginv1 "github.com/mailsift/mailsift/plugins/proto/mailsift/plugin/v1"
)

// Input says what an analyzer reads of a message.
type Input int

const (
	// Raw (the default) sends the message as fetched; the plugin parses it
	// with analyzers.Parse, so the analyzer sees exactly the Message a
	// built-in one sees, part contents included.
	Raw Input = iota
	// Parsed sends mailsift's parsed view instead and saves the plugin the
	// parsing: the Message has its header, text, HTML, links and the list
	// of parts with their sizes and hashes, but no part contents, no Raw
	// and no Nested.
	Parsed
)

// Description is what a plugin tells mailsift about itself. An analyzer
// that has more to say than its name implements Describer.
type Description struct {
	Version string
	// Doc is one line saying what the analyzer checks.
	Doc   string
	Needs Input
	// Timeout is how long one analysis may take unless the config says
	// otherwise; 0 leaves mailsift's default (10 s).
	Timeout time.Duration
	// Security marks an analyzer whose failure leaves a message's safety
	// unknown: a report in which it failed is never "clean".
	Security bool
}

// Describer is implemented by analyzers that describe themselves.
type Describer interface {
	Describe() Description
}

func describe(a analyzers.Analyzer) Description {
	if d, ok := a.(Describer); ok {
		return d.Describe()
	}
	return Description{}
}

// Serve runs a as a mailsift plugin until mailsift stops it. Run by hand
// rather than by mailsift, the program says it is a plugin and exits with
// status 1.
func Serve(a analyzers.Analyzer) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: wire.ServerPlugins(NewServer(a)),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(wire.MaxMessageSize), grpc.MaxSendMsgSize(wire.MaxMessageSize))...)
		},
		// go-plugin's own notes, as JSON lines mailsift's log takes apart.
		Logger: hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: os.Stderr, Level: hclog.Info}),
	})
}

// Logger returns a logger for a plugin: it writes JSON lines to stderr,
// which mailsift logs at their level with the plugin's name.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // mailsift stamps its own records
			}
			if len(groups) == 0 && a.Key == slog.LevelKey {
				a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
			}
			return a
		},
	}))
}

// Server is the gRPC service of a Go plugin. Serve uses it; it is exported
// for hosts of tests that put it on a connection of their own.
type Server struct {
	pluginv1.UnimplementedAnalyzerServer
	a    analyzers.Analyzer
	desc Description
}

// NewServer serves a.
func NewServer(a analyzers.Analyzer) *Server {
	return &Server{a: a, desc: describe(a)}
}

// Describe implements the contract's Describe.
func (s *Server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	needs := pluginv1.Input_INPUT_RAW
	if s.desc.Needs == Parsed {
		needs = pluginv1.Input_INPUT_PARSED
	}
	return &pluginv1.DescribeResponse{
		Name:      s.a.Name(),
		Version:   s.desc.Version,
		Doc:       s.desc.Doc,
		Needs:     needs,
		TimeoutMs: s.desc.Timeout.Milliseconds(),
		Security:  s.desc.Security,
	}, nil
}

// Analyze implements the contract's Analyze: it rebuilds the Message, runs
// the analyzer with analyzers.Run (so a panic is an error result, not a
// dead plugin), and answers an error from Analyze with retry, as the
// pipeline retries a built-in analyzer's.
func (s *Server) Analyze(ctx context.Context, req *pluginv1.AnalyzeRequest) (*pluginv1.AnalyzeResponse, error) {
	m, err := s.message(req)
	if err != nil {
		return &pluginv1.AnalyzeResponse{Status: pluginv1.Status_STATUS_ERROR, Verdict: pluginv1.Verdict_VERDICT_UNKNOWN, Error: err.Error()}, nil
	}
	m.ID, m.Mailbox, m.UIDL = req.GetId(), req.GetMailbox(), req.GetUidl()
	res, err := analyzers.Run(ctx, s.a, m)
	if err != nil {
		return &pluginv1.AnalyzeResponse{Retry: true, Error: err.Error()}, nil
	}
	return wire.ResultToProto(res), nil
}

func (s *Server) message(req *pluginv1.AnalyzeRequest) (*analyzers.Message, error) {
	if s.desc.Needs == Parsed && req.GetMessage() != nil {
		return wire.MessageFromProto(req.GetMessage()), nil
	}
	if len(req.GetRaw()) > 0 {
		return analyzers.Parse(req.GetRaw(), analyzers.ParseOptions{})
	}
	if req.GetMessage() != nil {
		return wire.MessageFromProto(req.GetMessage()), nil
	}
	return nil, errors.New("the request carries no message")
}
