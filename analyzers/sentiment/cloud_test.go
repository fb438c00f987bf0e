package sentiment

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/language/apiv2/languagepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mailsift/mailsift/analyzers"
)

// languageServer speaks Cloud Natural Language's gRPC LanguageService on
// loopback; answer decides each reply.
type languageServer struct {
	languagepb.UnimplementedLanguageServiceServer
	mu     sync.Mutex
	keys   []string
	texts  []string
	answer func(ctx context.Context, req *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error)
}

func (s *languageServer) AnalyzeSentiment(ctx context.Context, req *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.keys = append(s.keys, strings.Join(md.Get("x-goog-api-key"), ","))
	s.texts = append(s.texts, req.GetDocument().GetContent())
	s.mu.Unlock()
	return s.answer(ctx, req)
}

func startLanguageServer(t *testing.T, srv *languageServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	languagepb.RegisterLanguageServiceServer(g, srv)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func angryAnswer(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
	return &languagepb.AnalyzeSentimentResponse{
		DocumentSentiment: &languagepb.Sentiment{Score: -0.8, Magnitude: 2.5},
		LanguageCode:      "en",
		LanguageSupported: true,
		Sentences: []*languagepb.Sentence{
			{Text: &languagepb.TextSpan{Content: "The zipper is broken."}, Sentiment: &languagepb.Sentiment{Score: -0.6}},
			{Text: &languagepb.TextSpan{Content: "Order 12."}, Sentiment: &languagepb.Sentiment{Score: 0}},
			{Text: &languagepb.TextSpan{Content: "This is the worst shop ever."}, Sentiment: &languagepb.Sentiment{Score: -0.9}},
		},
	}, nil
}

func TestGoogle(t *testing.T) {
	angry := &analyzers.Message{Text: "The zipper is broken. Order 12. This is the worst shop ever.\n\nOn Mon, 2 Nov 2026, Shop <s@x.example> wrote:\n> We are happy to help!"}
	tests := []struct {
		name    string
		answer  func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error)
		timeout time.Duration
		status  analyzers.Status
		retry   bool // Analyze returns an error: the pipeline retries
		label   string
	}{
		{name: "answer", answer: angryAnswer, status: analyzers.StatusOK, label: LabelNegative},
		{name: "credentials rejected", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return nil, status.Error(codes.Unauthenticated, "API key not valid. Please pass a valid API key.")
		}, status: analyzers.StatusError},
		{name: "permission denied", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "Cloud Natural Language API has not been used in project 1 before or it is disabled.")
		}, status: analyzers.StatusError},
		{name: "quota", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return nil, status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'Requests' per minute.")
		}, status: analyzers.StatusDeferred},
		{name: "unsupported language", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return nil, status.Error(codes.InvalidArgument, "The language sw is not supported for document_sentiment analysis.")
		}, status: analyzers.StatusSkipped},
		{name: "language not supported flag", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return &languagepb.AnalyzeSentimentResponse{DocumentSentiment: &languagepb.Sentiment{}, LanguageCode: "sw"}, nil
		}, status: analyzers.StatusOK, label: LabelUnknown},
		{name: "no document sentiment", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return &languagepb.AnalyzeSentimentResponse{LanguageCode: "en", LanguageSupported: true}, nil
		}, retry: true},
		{name: "unavailable", answer: func(context.Context, *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			return nil, status.Error(codes.Unavailable, "backend down")
		}, timeout: 500 * time.Millisecond, retry: true},
		{name: "timeout", answer: func(ctx context.Context, r *languagepb.AnalyzeSentimentRequest) (*languagepb.AnalyzeSentimentResponse, error) {
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			return angryAnswer(ctx, r)
		}, timeout: 300 * time.Millisecond, retry: true},
	}
	t.Setenv("MAILSIFT_TEST_GOOGLE_KEY", "test-key-123")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &languageServer{answer: tt.answer}
			cfg := DefaultConfig()
			cfg.Backend = BackendGoogle
			cfg.Google = GoogleConfig{Endpoint: startLanguageServer(t, srv), Plaintext: true, APIKeyEnv: "MAILSIFT_TEST_GOOGLE_KEY"}
			cfg.Subject = false
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r, err := analyzers.Run(ctx, a, angry)
			if tt.retry {
				if err == nil {
					t.Fatalf("no error to retry; result %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Error, tt.status)
			}
			if r.Status != analyzers.StatusOK {
				if r.Verdict != analyzers.VerdictUnknown || r.Error == "" || len(r.Data) != 0 {
					t.Errorf("failed result %+v reads as an answer", r)
				}
				return
			}
			var d Data
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Label != tt.label || d.Backend != BackendGoogle {
				t.Errorf("label %s backend %s, want %s", d.Label, d.Backend, tt.label)
			}
			if tt.label == LabelNegative {
				if d.Score != -0.8 || d.Magnitude == nil || *d.Magnitude != 2.5 || len(d.Sentences) != 2 || d.Sentences[0].Text != "This is the worst shop ever." {
					t.Errorf("data %+v", d)
				}
				if len(r.Symbols) != 1 || r.Symbols[0].Name != Negative {
					t.Errorf("symbols %+v", r.Symbols)
				}
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.keys) == 0 || srv.keys[0] != "test-key-123" {
				t.Errorf("API key sent: %q", srv.keys)
			}
			if strings.Contains(srv.texts[0], "happy to help") {
				t.Errorf("the quoted reply was sent: %q", srv.texts[0])
			}
		})
	}
}

func TestGoogleDown(t *testing.T) {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := DefaultConfig()
	cfg.Backend = BackendGoogle
	cfg.Google = GoogleConfig{Endpoint: addr, Plaintext: true}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if r, err := analyzers.Run(ctx, a, &analyzers.Message{Text: "It broke."}); err == nil {
		t.Fatalf("no server, no error: %+v", r)
	}
}

// watsonServer speaks Watson NLU's /v1/analyze on loopback.
func watsonServer(t *testing.T, handle func(w http.ResponseWriter, req map[string]any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/instances/abc/v1/analyze" || r.URL.Query().Get("version") != "2022-04-07" || r.Method != http.MethodPost {
			http.Error(w, `{"error":"not found","code":404}`, http.StatusNotFound)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "apikey" || p != "watson-key" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":401,"error":"Unauthorized"}`)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"invalid request: content is empty","code":400}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		handle(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/instances/abc"
}

const watsonAngry = `{"usage":{"text_units":1,"text_characters":60,"features":2},"language":"en",
 "sentiment":{"document":{"score":-0.72,"label":"negative"}},
 "emotion":{"document":{"emotion":{"sadness":0.2,"joy":0.05,"fear":0.03,"disgust":0.4,"anger":0.7}}}}`

func TestWatson(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		handle  func(w http.ResponseWriter, req map[string]any)
		timeout time.Duration
		status  analyzers.Status
		retry   bool
		emotion bool
	}{
		{name: "answer with emotion", key: "watson-key", handle: func(w http.ResponseWriter, req map[string]any) {
			f := req["features"].(map[string]any)
			if f["sentiment"] == nil || f["emotion"] == nil || !strings.Contains(req["text"].(string), "broken") {
				http.Error(w, `{"error":"bad request","code":400}`, 400)
				return
			}
			io.WriteString(w, watsonAngry)
		}, status: analyzers.StatusOK, emotion: true},
		{name: "emotion unsupported for the language", key: "watson-key", handle: func(w http.ResponseWriter, req map[string]any) {
			if req["features"].(map[string]any)["emotion"] != nil {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":"unsupported text language: de","code":400}`)
				return
			}
			io.WriteString(w, `{"language":"de","sentiment":{"document":{"score":-0.5,"label":"negative"}}}`)
		}, status: analyzers.StatusOK},
		{name: "wrong key", key: "other-key", handle: func(w http.ResponseWriter, _ map[string]any) { io.WriteString(w, watsonAngry) }, status: analyzers.StatusError},
		{name: "quota", key: "watson-key", handle: func(w http.ResponseWriter, _ map[string]any) {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":"Too Many Requests","code":429}`)
		}, status: analyzers.StatusDeferred},
		{name: "server error", key: "watson-key", handle: func(w http.ResponseWriter, _ map[string]any) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"Internal Server Error","code":500}`)
		}, retry: true},
		{name: "garbage", key: "watson-key", handle: func(w http.ResponseWriter, _ map[string]any) {
			io.WriteString(w, `<html>502 Bad Gateway</html>`)
		}, retry: true},
		{name: "no sentiment", key: "watson-key", handle: func(w http.ResponseWriter, _ map[string]any) {
			io.WriteString(w, `{"language":"en"}`)
		}, retry: true},
		{name: "timeout", key: "watson-key", handle: func(w http.ResponseWriter, _ map[string]any) {
			time.Sleep(2 * time.Second)
			io.WriteString(w, watsonAngry)
		}, timeout: 200 * time.Millisecond, retry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("MAILSIFT_TEST_WATSON_KEY", tt.key)
			cfg := DefaultConfig()
			cfg.Backend = BackendWatson
			cfg.Watson.URL = watsonServer(t, tt.handle)
			cfg.Watson.APIKeyEnv = "MAILSIFT_TEST_WATSON_KEY"
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r, err := analyzers.Run(ctx, a, &analyzers.Message{Text: "The zipper is broken and nobody answers."})
			if tt.retry {
				if err == nil {
					t.Fatalf("no error to retry; result %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Error, tt.status)
			}
			if r.Status != analyzers.StatusOK {
				if r.Verdict != analyzers.VerdictUnknown || r.Error == "" || strings.Contains(r.Error, "watson-key") {
					t.Errorf("failed result %+v", r)
				}
				return
			}
			var d Data
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Label != LabelNegative || d.Backend != BackendWatson || (d.Emotion["anger"] == 0.7) != tt.emotion {
				t.Errorf("data %+v", d)
			}
		})
	}
}
