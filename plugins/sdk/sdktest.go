package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/plugins/internal/wire"
	pluginv1 "github.com/mailsift/mailsift/plugins/proto/mailsift/plugin/v1"
)

// RunFiles runs a over .eml files the way mailsift runs it as a plugin,
// inside the test's process: mailsift parses each file, sends what a's
// Description asks for over a gRPC connection to a's Server, and checks
// the answer as it checks a plugin's. A path that is a directory stands for
// the *.eml files below it.
//
// It returns each file's result by the file's base name. A file that
// cannot be read or is not a mail, an answer mailsift would reject as not
// a result, and an analysis that asks to be retried fail t.
func RunFiles(t testing.TB, a analyzers.Analyzer, paths ...string) map[string]analyzers.Result {
	t.Helper()
	rpc := serveInProcess(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := rpc.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("describe %s: %v", a.Name(), err)
	}
	needRaw, needParsed := wire.InputNeeds(d.GetNeeds())
	timeout := time.Duration(d.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}

	files := emlFiles(t, paths)
	out := make(map[string]analyzers.Result, len(files))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		sum := sha256.Sum256(raw)
		m.ID = hex.EncodeToString(sum[:])
		cctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := rpc.Analyze(cctx, wire.Request(m, needRaw, needParsed))
		cancel()
		if err != nil {
			t.Errorf("%s: call failed: %v", file, err)
			continue
		}
		if resp.GetRetry() {
			t.Errorf("%s: the analyzer asked to be retried: %s", file, resp.GetError())
			continue
		}
		res, err := wire.ResultFromProto(a.Name(), resp)
		if err != nil {
			t.Errorf("%s: mailsift would reject the answer: %v", file, err)
			continue
		}
		if res.Verdict == "" {
			res.Verdict = analyzers.VerdictClean
		}
		name := filepath.Base(file)
		if _, dup := out[name]; dup {
			t.Fatalf("two files are named %s; RunFiles keys results by base name", name)
		}
		out[name] = res
	}
	return out
}

// serveInProcess puts a's Server on an in-memory gRPC connection.
func serveInProcess(t testing.TB, a analyzers.Analyzer) pluginv1.AnalyzerClient {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(wire.MaxMessageSize), grpc.MaxSendMsgSize(wire.MaxMessageSize))
	pluginv1.RegisterAnalyzerServer(srv, NewServer(a))
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient("passthrough:///"+a.Name(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(wire.MaxMessageSize), grpc.MaxCallSendMsgSize(wire.MaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return pluginv1.NewAnalyzerClient(conn)
}

// emlFiles expands directories into the .eml files below them, in name
// order.
func emlFiles(t testing.TB, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".eml") {
				out = append(out, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == n {
			t.Fatalf("%s: no .eml files", p)
		}
	}
	if len(out) == 0 {
		t.Fatal("RunFiles: no files given")
	}
	return out
}
