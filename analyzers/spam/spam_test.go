package spam

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

// gtube is the spam engines' test string, put together at run time so
// that this file is not itself a GTUBE message to a scanner.
var gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-" + "ANTI-UBE-TEST-EMAIL*C.34X"

// message builds a mail dated now: a fixed Date makes rspamd add
// DATE_IN_PAST once the clock moves on.
func message(subject, body string) *analyzers.Message {
	raw := fmt.Sprintf("From: Dana Whitfield <dana@mailbox.example>\r\nTo: support@shop.example\r\n"+
		"Subject: %s\r\nDate: %s\r\nMessage-ID: <%d@mailbox.example>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), body)
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		panic(err)
	}
	return m
}

func gtubeMessage() *analyzers.Message {
	return message("Test spam mail (GTUBE)", "This is the GTUBE, the\n\tGeneric Test for Unsolicited Bulk Email\n\n"+gtube+"\n")
}

func cleanMessage() *analyzers.Message {
	return message("Question about order BL-104233", "Hello,\n\nmy order BL-104233 arrived today, thank you. "+
		"Could you tell me whether the backpack's rain cover is sold separately?\n\nBest regards,\nDana\n")
}

func newAnalyzer(t *testing.T, cfg Config) *Analyzer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func engines(t *testing.T, r analyzers.Result) []Verdict {
	t.Helper()
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	return d.Engines
}

func symbolNames(r analyzers.Result) []string {
	var out []string
	for _, s := range r.Symbols {
		out = append(out, s.Name)
	}
	return out
}

// TestEngines runs GTUBE and a clean mail through the real rspamd and
// spamd: GTUBE is malicious by either, the clean mail clean by both.
func TestEngines(t *testing.T) {
	rs := DefaultConfig()
	rs.Rspamd.URL = startRspamd(t)
	sa := DefaultConfig()
	sa.SpamAssassin.Address = startSpamd(t)
	both := DefaultConfig()
	both.Rspamd.URL, both.SpamAssassin.Address = rs.Rspamd.URL, sa.SpamAssassin.Address

	tests := []struct {
		name    string
		cfg     Config
		m       *analyzers.Message
		verdict analyzers.Verdict
		symbols []string
		rule    string // a rule the engine must report
	}{
		{"rspamd GTUBE", rs, gtubeMessage(), analyzers.VerdictMalicious, []string{RspamdReject}, "GTUBE"},
		{"rspamd clean", rs, cleanMessage(), analyzers.VerdictClean, nil, ""},
		{"spamassassin GTUBE", sa, gtubeMessage(), analyzers.VerdictMalicious, []string{SASpamHigh}, "GTUBE"},
		{"spamassassin clean", sa, cleanMessage(), analyzers.VerdictClean, nil, ""},
		{"both GTUBE", both, gtubeMessage(), analyzers.VerdictMalicious, []string{RspamdReject, SASpamHigh}, "GTUBE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzer(t, tt.cfg)
			res := analyzers.RunAll(t.Context(), []analyzers.Analyzer{a}, tt.m, 30*time.Second)[0]
			if res.Status != analyzers.StatusOK {
				t.Fatalf("status %s: %s", res.Status, res.Error)
			}
			if res.Verdict != tt.verdict || !slices.Equal(symbolNames(res), tt.symbols) {
				t.Errorf("verdict %s symbols %v, want %s %v (%s)", res.Verdict, res.Symbols, tt.verdict, tt.symbols, res.Data)
			}
			es := engines(t, res)
			if len(es) != len(tt.cfg.engineNames()) {
				t.Fatalf("%d engine answers, want %d", len(es), len(tt.cfg.engineNames()))
			}
			for _, e := range es {
				if tt.rule != "" && !slices.ContainsFunc(e.Rules, func(r Rule) bool { return r.Name == tt.rule }) {
					t.Errorf("%s: no rule %s in %+v", e.Engine, tt.rule, e.Rules)
				}
				if tt.verdict == analyzers.VerdictClean && (e.Spam || e.Score >= e.Required) {
					t.Errorf("%s judged the clean mail spam: %+v", e.Engine, e)
				}
				if e.Required <= 0 {
					t.Errorf("%s: no required score: %+v", e.Engine, e)
				}
			}
		})
	}
}

func (c Config) engineNames() []string {
	var out []string
	if c.Rspamd.URL != "" {
		out = append(out, engineRspamd)
	}
	if c.SpamAssassin.Address != "" {
		out = append(out, engineSpamd)
	}
	return out
}

// TestFaults checks that an engine that is down, stalls or answers
// something else never reads as clean: down is an error (retried), a
// stall a timeout, a wrong answer an error result at once.
func TestFaults(t *testing.T) {
	down := closedPort(t)
	stall := stallingServer(t)
	garbageTCP := tcpServer(t, "HELLO, this is not spamd\r\n")
	spamdUsage := tcpServer(t, "SPAMD/1.5 64 EX_USAGE\r\n\r\n")
	spamdNoHeader := tcpServer(t, "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n")
	htmlServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html><body>It works!</body></html>")
	}))
	defer htmlServer.Close()
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"too many connections"}`)
	}))
	defer busy.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()

	rsp := func(url string) Config { c := DefaultConfig(); c.Rspamd.URL = url; return c }
	sa := func(addr string) Config { c := DefaultConfig(); c.SpamAssassin.Address = addr; return c }
	tests := []struct {
		name   string
		cfg    Config
		status analyzers.Status
		want   string
	}{
		{"rspamd down", rsp("http://" + down), analyzers.StatusError, "connection refused"},
		{"spamd down", sa(down), analyzers.StatusError, "connection refused"},
		{"rspamd stalls", rsp("http://" + stall), analyzers.StatusTimeout, ""},
		{"spamd stalls", sa(stall), analyzers.StatusTimeout, ""},
		{"rspamd URL serves a web page", rsp(htmlServer.URL), analyzers.StatusError, "not an answer"},
		{"rspamd busy", rsp(busy.URL), analyzers.StatusError, "503"},
		{"rspamd URL without checkv2", rsp(notFound.URL), analyzers.StatusError, "404"},
		{"spamd address serves something else", sa(garbageTCP), analyzers.StatusError, "not an answer"},
		{"spamd refuses the request", sa(spamdUsage), analyzers.StatusError, "EX_USAGE"},
		{"spamd answer without a score", sa(spamdNoHeader), analyzers.StatusError, "no Spam header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzer(t, tt.cfg)
			res := analyzers.RunAll(t.Context(), []analyzers.Analyzer{a}, cleanMessage(), 500*time.Millisecond)[0]
			if res.Status != tt.status || res.Verdict != analyzers.VerdictUnknown {
				t.Fatalf("status %s verdict %s (%s), want %s unknown", res.Status, res.Verdict, res.Error, tt.status)
			}
			if !strings.Contains(res.Error, tt.want) {
				t.Errorf("error %q, want it to contain %q", res.Error, tt.want)
			}
		})
	}

	// Down and stalled engines are errors Analyze returns, so that the
	// pipeline retries them; a wrong answer is a result, not retried.
	a := newAnalyzer(t, sa(down))
	if _, err := a.Analyze(t.Context(), cleanMessage()); err == nil {
		t.Error("spamd down: Analyze returned no error")
	}
	a = newAnalyzer(t, sa(garbageTCP))
	if res, err := a.Analyze(t.Context(), cleanMessage()); err != nil || res.Status != analyzers.StatusError {
		t.Errorf("garbage: %v, %+v", err, res)
	}
}

func TestTooLarge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpamAssassin.Address = closedPort(t)
	cfg.MaxSize = 100
	res := analyzers.RunAll(t.Context(), []analyzers.Analyzer{newAnalyzer(t, cfg)}, cleanMessage(), time.Second)[0]
	if res.Status != analyzers.StatusSkipped || res.Verdict != analyzers.VerdictUnknown || !strings.Contains(res.Error, "max_size") {
		t.Errorf("result %+v", res)
	}
}

func TestParseSpamd(t *testing.T) {
	reply := "SPAMD/1.1 0 EX_OK\r\nContent-length: 600\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n" +
		"Spam detection software, running on the system \"vm\",\nhas identified this incoming email as possible spam.\n\n" +
		"Content analysis details:   (1000.0 points, 5.0 required)\n\n" +
		" pts rule name              description\n" +
		"---- ---------------------- --------------------------------------------------\n" +
		"-0.0 NO_RECEIVED            Informational: message has no Received headers\n" +
		"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n" +
		" 0.5 LONG_RULE              A description that goes on\n" +
		"                            over two lines\n" +
		"-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\n"
	v, err := parseSpamd([]byte(reply))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Spam || v.Score != 1000 || v.Required != 5 || len(v.Rules) != 4 || v.Rules[1].Name != "GTUBE" || v.Rules[1].Score != 1000 ||
		v.Rules[2].Description != "A description that goes on over two lines" {
		t.Errorf("parsed %+v", v)
	}
	v, err = parseSpamd([]byte("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.1 / 5.0\r\n\r\n"))
	if err != nil || v.Spam || v.Score != -0.1 || len(v.Rules) != 0 {
		t.Errorf("clean: %+v, %v", v, err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"no engine", func(*Config) {}, "no engine"},
		{"bad rspamd url", func(c *Config) { c.Rspamd.URL = "127.0.0.1:11333" }, "rspamd.url"},
		{"bad spamd address", func(c *Config) { c.SpamAssassin.Address = "localhost" }, "spamassassin.address"},
		{"unknown symbol", func(c *Config) { c.SpamAssassin.Address = "127.0.0.1:783"; c.Scores = map[string]float64{"X": 1} }, `"X"`},
		{"missing password", func(c *Config) {
			c.Rspamd.URL = "http://127.0.0.1:11333"
			c.Rspamd.PasswordEnv = "MAILSIFT_TEST_NO_SUCH_VARIABLE"
		}, "MAILSIFT_TEST_NO_SUCH_VARIABLE"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.cfg(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func BenchmarkRspamd(b *testing.B) {
	benchEngine(b, func(t *testing.T, c *Config) { c.Rspamd.URL = startRspamd(t) })
}

func BenchmarkSpamAssassin(b *testing.B) {
	benchEngine(b, func(t *testing.T, c *Config) { c.SpamAssassin.Address = startSpamd(t) })
}

func benchEngine(b *testing.B, set func(*testing.T, *Config)) {
	cfg := DefaultConfig()
	t := &testing.T{}
	set(t, &cfg)
	if t.Failed() {
		b.Fatal("engine did not start")
	}
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m := cleanMessage()
	for b.Loop() {
		if _, err := a.Analyze(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stallingServer accepts connections and never answers, like an engine
// stuck on a huge message.
func stallingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// tcpServer answers every connection with reply once the request is in.
func tcpServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte(reply))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
