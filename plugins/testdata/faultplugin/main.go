// Command faultplugin is a plugin that misbehaves on request, for the
// host's fault tests. The subject of a message picks what it does with it;
// environment variables pick how it starts.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/plugins/internal/wire"
	pluginv1 "github.com/mailsift/mailsift/plugins/proto/mailsift/plugin/v1"
	"github.com/mailsift/mailsift/plugins/sdk"
)

type analyzer struct{}

func (analyzer) Name() string { return "fault" }

func (analyzer) Describe() sdk.Description {
	return sdk.Description{Version: "0.1.0", Doc: "misbehaves on request", Security: os.Getenv("FAULT_SECURITY") == "1"}
}

func (analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	switch m.Header.Subject {
	case "slow":
		note("inflight", strconv.Itoa(os.Getpid()))
		time.Sleep(5 * time.Second)
	case "hang":
		time.Sleep(time.Hour) // deaf to cancellation, like a stuck library call
	case "exit":
		os.Exit(2)
	case "crash-once":
		// The first process to see this message dies; the retry succeeds.
		if dir := os.Getenv("FAULT_DIR"); dir != "" {
			if f, err := os.OpenFile(filepath.Join(dir, "crashed"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				f.Close()
				os.Exit(2)
			}
		}
	case "panic":
		panic("boom")
	case "retry":
		return analyzers.Result{}, fmt.Errorf("backend unreachable")
	}
	var r analyzers.Result
	r.Add("FAULT_OK", 1, m.Header.Subject)
	r.Verdict = analyzers.VerdictClean
	err := r.SetData(map[string]any{"pid": os.Getpid(), "raw_bytes": len(m.Raw)})
	return r, err
}

// server answers garbage for some subjects, below the SDK's checks.
type server struct {
	*sdk.Server
}

func (s server) Analyze(ctx context.Context, req *pluginv1.AnalyzeRequest) (*pluginv1.AnalyzeResponse, error) {
	m, err := analyzers.Parse(req.GetRaw(), analyzers.ParseOptions{})
	if err == nil {
		switch m.Header.Subject {
		case "garbage-status":
			return &pluginv1.AnalyzeResponse{Status: 99}, nil
		case "garbage-data":
			return &pluginv1.AnalyzeResponse{DataJson: []byte("{not json")}, nil
		case "garbage-nan":
			return &pluginv1.AnalyzeResponse{Score: math.NaN()}, nil
		case "garbage-clean-error":
			return &pluginv1.AnalyzeResponse{Status: pluginv1.Status_STATUS_ERROR, Verdict: pluginv1.Verdict_VERDICT_CLEAN}, nil
		}
	}
	return s.Server.Analyze(ctx, req)
}

func note(name, value string) {
	if dir := os.Getenv("FAULT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600)
	}
}

func main() {
	note("started."+strconv.Itoa(os.Getpid()), "")
	switch os.Getenv("FAULT_HANDSHAKE") {
	case "garbage":
		fmt.Println("hello, I am not a plugin")
		time.Sleep(10 * time.Second)
		return
	case "exit":
		fmt.Fprintln(os.Stderr, "faultplugin: cannot read /etc/faultplugin.yaml")
		os.Exit(3)
	}
	if os.Getenv("FAULT_STDERR") == "1" {
		// What a careless plugin may write: the host must log it, not choke.
		fmt.Fprintln(os.Stderr, `{"@level":"warn","@message":42,"k":"v"}`)
		fmt.Fprintln(os.Stderr, "[WARN] cache is cold")
		fmt.Fprintln(os.Stderr, "plain line from the plugin")
	}
	version := wire.ProtocolVersion
	if v, err := strconv.Atoi(os.Getenv("FAULT_PROTOCOL")); err == nil {
		version = v
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake(),
		VersionedPlugins: wire.VersionedServer(version, server{sdk.NewServer(analyzer{})}),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: os.Stderr, Level: hclog.Info}),
	})
}
