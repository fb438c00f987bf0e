// Package wire is what the plugin host and the Go SDK share: the go-plugin
// handshake, the glue that puts the mailsift.plugin.v1 service on
// go-plugin's gRPC connection, and the conversions between mailsift's
// types and the protobuf messages.
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/mailsift/mailsift/analyzers"
	pluginv1 "github.com/mailsift/mailsift/plugins/proto/mailsift/plugin/v1"
)

// ProtocolVersion is the version of the contract this code speaks, the
// second field of the plugin's handshake line. A host that learns a new
// version keeps serving the old ones (see ClientPlugins), so plugins built
// against an older SDK keep working.
const ProtocolVersion = 1

// PluginName is the name under which the analyzer service is dispensed.
const PluginName = "analyzer"

// Handshake is what a plugin and mailsift must agree on before anything
// else. The cookie only keeps a plugin from being run by hand by mistake;
// it is no secret.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "MAILSIFT_PLUGIN",
		MagicCookieValue: "3f1c7b0e-analyzer",
	}
}

// MaxMessageSize bounds one gRPC message either way: a whole raw mail plus
// its parsed view must fit. go-plugin's host side has no limit; a plugin's
// server needs this raised from gRPC's 4 MiB.
const MaxMessageSize = 256 << 20

// ClientPlugins is the host's side of the negotiation: every contract
// version it can run, newest last. go-plugin picks the highest version the
// plugin also offers.
func ClientPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {PluginName: &grpcPlugin{}},
	}
}

// ServerPlugins is a Go plugin's side: impl serves version 1.
func ServerPlugins(impl pluginv1.AnalyzerServer) map[int]plugin.PluginSet {
	return VersionedServer(ProtocolVersion, impl)
}

// VersionedServer serves impl as the given contract version. Only tests
// have reason to claim a version other than ProtocolVersion.
func VersionedServer(version int, impl pluginv1.AnalyzerServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{version: {PluginName: &grpcPlugin{impl: impl}}}
}

// grpcPlugin is go-plugin's view of the v1 service: impl is set in the
// plugin process, unset in the host.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl pluginv1.AnalyzerServer
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return errors.New("no analyzer to serve")
	}
	pluginv1.RegisterAnalyzerServer(s, p.impl)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginv1.NewAnalyzerClient(c), nil
}

// Request is what the host sends for m to a plugin that needs the raw
// message, the parsed view, or both.
func Request(m *analyzers.Message, raw, parsed bool) *pluginv1.AnalyzeRequest {
	req := &pluginv1.AnalyzeRequest{Id: m.ID, Mailbox: m.Mailbox, Uidl: m.UIDL}
	if raw {
		req.Raw = m.Raw
	}
	if parsed {
		req.Message = MessageToProto(m)
	}
	return req
}

// MessageToProto is the parsed view sent to a plugin: everything but the
// decoded contents of the parts, which a plugin that wants them reads from
// the raw message.
func MessageToProto(m *analyzers.Message) *pluginv1.Message {
	h := &m.Header
	pm := &pluginv1.Message{
		Header: &pluginv1.Header{
			MessageId:  h.MessageID,
			Subject:    h.Subject,
			From:       addressesToProto(h.From),
			Sender:     addressesToProto(h.Sender),
			ReplyTo:    addressesToProto(h.ReplyTo),
			To:         addressesToProto(h.To),
			Cc:         addressesToProto(h.Cc),
			ReturnPath: h.ReturnPath,
			DateRaw:    h.DateRaw,
		},
		Text: m.Text,
		Html: m.HTML,
		Urls: m.URLs,
		Size: int64(len(m.Raw)),
	}
	if !h.Date.IsZero() {
		pm.Header.Date = h.Date.Format(time.RFC3339)
	}
	if len(h.Fields) > 0 {
		pm.Header.Fields = make([]*pluginv1.Field, len(h.Fields))
		for i, f := range h.Fields {
			pm.Header.Fields[i] = &pluginv1.Field{Key: f.Key, Value: f.Value}
		}
	}
	if len(m.Parts) > 0 {
		pm.Parts = make([]*pluginv1.Part, len(m.Parts))
		for i := range m.Parts {
			p := &m.Parts[i]
			pm.Parts[i] = &pluginv1.Part{
				Path: p.Path, ContentType: p.ContentType, Charset: p.Charset, Filename: p.Filename,
				Disposition: p.Disposition, Encoding: p.Encoding, Size: p.Size, Sha256: p.SHA256,
				Attachment: p.Attachment,
			}
		}
	}
	if len(m.Links) > 0 {
		pm.Links = make([]*pluginv1.Link, len(m.Links))
		for i, l := range m.Links {
			pm.Links[i] = &pluginv1.Link{Url: l.URL, Text: l.Text, Part: l.Part, Kind: string(l.Kind)}
		}
	}
	if len(m.Problems) > 0 {
		pm.Problems = make([]*pluginv1.Problem, len(m.Problems))
		for i, p := range m.Problems {
			pm.Problems[i] = &pluginv1.Problem{Part: p.Part, Error: p.Err}
		}
	}
	return pm
}

func addressesToProto(as []*mail.Address) []*pluginv1.Address {
	if len(as) == 0 {
		return nil
	}
	out := make([]*pluginv1.Address, len(as))
	for i, a := range as {
		out[i] = &pluginv1.Address{Name: a.Name, Address: a.Address}
	}
	return out
}

// MessageFromProto rebuilds the Message a Go plugin's analyzer reads from
// the parsed view. Parts carry no Content and Raw is nil: an analyzer that
// reads either asks for the raw message instead.
func MessageFromProto(pm *pluginv1.Message) *analyzers.Message {
	m := &analyzers.Message{Text: pm.GetText(), HTML: pm.GetHtml(), URLs: pm.GetUrls()}
	if ph := pm.GetHeader(); ph != nil {
		m.Header = analyzers.Header{
			MessageID:  ph.GetMessageId(),
			Subject:    ph.GetSubject(),
			From:       addressesFromProto(ph.GetFrom()),
			Sender:     addressesFromProto(ph.GetSender()),
			ReplyTo:    addressesFromProto(ph.GetReplyTo()),
			To:         addressesFromProto(ph.GetTo()),
			Cc:         addressesFromProto(ph.GetCc()),
			ReturnPath: ph.GetReturnPath(),
			DateRaw:    ph.GetDateRaw(),
		}
		if d, err := time.Parse(time.RFC3339, ph.GetDate()); err == nil {
			m.Header.Date = d
		}
		for _, f := range ph.GetFields() {
			m.Header.Fields = append(m.Header.Fields, analyzers.Field{Key: f.GetKey(), Value: f.GetValue()})
		}
	}
	if ps := pm.GetParts(); len(ps) > 0 {
		m.Parts = make([]analyzers.Part, len(ps))
		for i, p := range ps {
			m.Parts[i] = analyzers.Part{
				Path: p.GetPath(), ContentType: p.GetContentType(), Charset: p.GetCharset(),
				Filename: p.GetFilename(), Disposition: p.GetDisposition(), Encoding: p.GetEncoding(),
				Size: p.GetSize(), SHA256: p.GetSha256(), Attachment: p.GetAttachment(),
			}
		}
		for i := range m.Parts {
			if m.Parts[i].Attachment {
				m.Attachments = append(m.Attachments, &m.Parts[i])
			}
		}
	}
	for _, l := range pm.GetLinks() {
		m.Links = append(m.Links, analyzers.Link{URL: l.GetUrl(), Text: l.GetText(), Part: l.GetPart(), Kind: analyzers.LinkKind(l.GetKind())})
	}
	for _, p := range pm.GetProblems() {
		m.Problems = append(m.Problems, analyzers.Problem{Part: p.GetPart(), Err: p.GetError()})
	}
	return m
}

func addressesFromProto(as []*pluginv1.Address) []*mail.Address {
	if len(as) == 0 {
		return nil
	}
	out := make([]*mail.Address, len(as))
	for i, a := range as {
		out[i] = &mail.Address{Name: a.GetName(), Address: a.GetAddress()}
	}
	return out
}

var (
	statusToProto = map[analyzers.Status]pluginv1.Status{
		analyzers.StatusOK:       pluginv1.Status_STATUS_OK,
		analyzers.StatusError:    pluginv1.Status_STATUS_ERROR,
		analyzers.StatusSkipped:  pluginv1.Status_STATUS_SKIPPED,
		analyzers.StatusDeferred: pluginv1.Status_STATUS_DEFERRED,
		// A plugin has no timeout of its own to report; the host times
		// its calls. An analyzer that says it timed out failed.
		analyzers.StatusTimeout: pluginv1.Status_STATUS_ERROR,
	}
	verdictToProto = map[analyzers.Verdict]pluginv1.Verdict{
		analyzers.VerdictClean:      pluginv1.Verdict_VERDICT_CLEAN,
		analyzers.VerdictSuspicious: pluginv1.Verdict_VERDICT_SUSPICIOUS,
		analyzers.VerdictMalicious:  pluginv1.Verdict_VERDICT_MALICIOUS,
		analyzers.VerdictUnknown:    pluginv1.Verdict_VERDICT_UNKNOWN,
	}
	statusFromProto = map[pluginv1.Status]analyzers.Status{
		pluginv1.Status_STATUS_UNSPECIFIED: analyzers.StatusOK,
		pluginv1.Status_STATUS_OK:          analyzers.StatusOK,
		pluginv1.Status_STATUS_ERROR:       analyzers.StatusError,
		pluginv1.Status_STATUS_SKIPPED:     analyzers.StatusSkipped,
		pluginv1.Status_STATUS_DEFERRED:    analyzers.StatusDeferred,
	}
	verdictFromProto = map[pluginv1.Verdict]analyzers.Verdict{
		pluginv1.Verdict_VERDICT_UNSPECIFIED: "",
		pluginv1.Verdict_VERDICT_CLEAN:       analyzers.VerdictClean,
		pluginv1.Verdict_VERDICT_SUSPICIOUS:  analyzers.VerdictSuspicious,
		pluginv1.Verdict_VERDICT_MALICIOUS:   analyzers.VerdictMalicious,
		pluginv1.Verdict_VERDICT_UNKNOWN:     analyzers.VerdictUnknown,
	}
)

// ResultToProto is a Go plugin's answer. An unknown status or verdict
// (a programming error in the analyzer) becomes an error answer rather than
// a guess.
func ResultToProto(r analyzers.Result) *pluginv1.AnalyzeResponse {
	st, ok := statusToProto[r.Status]
	if r.Status == "" {
		st, ok = pluginv1.Status_STATUS_OK, true
	}
	if !ok {
		return &pluginv1.AnalyzeResponse{Status: pluginv1.Status_STATUS_ERROR, Verdict: pluginv1.Verdict_VERDICT_UNKNOWN,
			Error: fmt.Sprintf("analyzer returned unknown status %q", r.Status)}
	}
	v, ok := verdictToProto[r.Verdict]
	if r.Verdict == "" {
		v, ok = pluginv1.Verdict_VERDICT_UNSPECIFIED, true
	}
	if !ok {
		return &pluginv1.AnalyzeResponse{Status: pluginv1.Status_STATUS_ERROR, Verdict: pluginv1.Verdict_VERDICT_UNKNOWN,
			Error: fmt.Sprintf("analyzer returned unknown verdict %q", r.Verdict)}
	}
	resp := &pluginv1.AnalyzeResponse{Status: st, Verdict: v, Score: r.Score, DataJson: r.Data, Error: r.Error}
	if len(r.Symbols) > 0 {
		resp.Symbols = make([]*pluginv1.Symbol, len(r.Symbols))
		for i, s := range r.Symbols {
			resp.Symbols[i] = &pluginv1.Symbol{Name: s.Name, Score: s.Score, Options: s.Options}
		}
	}
	return resp
}

// ErrInvalidResult is wrapped by ResultFromProto's error: the plugin
// answered, but with something that is not a result.
var ErrInvalidResult = errors.New("invalid result")

// ResultFromProto checks a plugin's answer and turns it into the Result of
// the analyzer called name. Anything mailsift could not put in a report as
// it is (a status or verdict it does not know, a score that is not a
// number, data that is not JSON) is an error wrapping ErrInvalidResult: a
// garbled answer must not read as a clean one.
func ResultFromProto(name string, resp *pluginv1.AnalyzeResponse) (analyzers.Result, error) {
	bad := func(format string, args ...any) (analyzers.Result, error) {
		return analyzers.Result{}, fmt.Errorf("%w: %s", ErrInvalidResult, fmt.Sprintf(format, args...))
	}
	if resp == nil {
		return bad("empty answer")
	}
	st, ok := statusFromProto[resp.GetStatus()]
	if !ok {
		return bad("unknown status %d", resp.GetStatus())
	}
	v, ok := verdictFromProto[resp.GetVerdict()]
	if !ok {
		return bad("unknown verdict %d", resp.GetVerdict())
	}
	if !finite(resp.GetScore()) {
		return bad("score %v is not a number", resp.GetScore())
	}
	r := analyzers.Result{Analyzer: name, Status: st, Verdict: v, Score: resp.GetScore(), Error: resp.GetError()}
	if st != analyzers.StatusOK && r.Verdict == "" {
		r.Verdict = analyzers.VerdictUnknown
	}
	if st != analyzers.StatusOK && r.Verdict == analyzers.VerdictClean {
		// A check that did not happen never reads as clean.
		return bad("status %s with verdict clean", st)
	}
	for i, s := range resp.GetSymbols() {
		if s.GetName() == "" {
			return bad("symbol %d has no name", i+1)
		}
		if !finite(s.GetScore()) {
			return bad("symbol %s: score %v is not a number", s.GetName(), s.GetScore())
		}
		r.Symbols = append(r.Symbols, analyzers.Symbol{Name: s.GetName(), Score: s.GetScore(), Options: s.GetOptions()})
	}
	if d := resp.GetDataJson(); len(d) > 0 {
		if !json.Valid(d) {
			return bad("data is not JSON")
		}
		r.Data = json.RawMessage(d)
	}
	return r, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// InputNeeds says which parts of a request an Input asks for.
func InputNeeds(in pluginv1.Input) (raw, parsed bool) {
	switch in {
	case pluginv1.Input_INPUT_RAW:
		return true, false
	case pluginv1.Input_INPUT_PARSED:
		return false, true
	}
	return true, true
}
