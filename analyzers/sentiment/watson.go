package sentiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/config"
)

// WatsonConfig configures the IBM Watson Natural Language Understanding
// backend, spoken to over its REST API.
type WatsonConfig struct {
	// URL is the service instance's URL, as IBM Cloud shows it
	// (https://api.<region>.natural-language-understanding.watson.cloud.ibm.com/instances/<id>).
	URL string `yaml:"url"`
	// The instance's API key, from the environment or a file.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// Version is the API version date the requests ask for.
	Version string `yaml:"version"`
	// Emotion also asks for the five emotion scores (anger, disgust, fear,
	// joy, sadness), which English text only gets.
	Emotion bool `yaml:"emotion"`
}

func defaultWatson() WatsonConfig {
	return WatsonConfig{Version: "2022-04-07", Emotion: true}
}

type watsonBackend struct {
	cfg    WatsonConfig
	key    string
	client *http.Client
}

func newWatson(cfg WatsonConfig) (*watsonBackend, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not a service URL", cfg.URL)
	}
	// The API key goes with every request: only over TLS, or to a test
	// server on this machine.
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("url: %q must be https (http only to a loopback address)", cfg.URL)
	}
	key, err := config.Secret("api key", cfg.APIKeyEnv, cfg.APIKeyFile)
	if err != nil {
		return nil, err
	}
	// No client timeout: the worker's context bounds each call.
	return &watsonBackend{cfg: cfg, key: key, client: &http.Client{}}, nil
}

type watsonRequest struct {
	Text     string         `json:"text"`
	Features watsonFeatures `json:"features"`
}

type watsonFeatures struct {
	Sentiment *watsonDoc `json:"sentiment,omitempty"`
	Emotion   *watsonDoc `json:"emotion,omitempty"`
}

type watsonDoc struct {
	Document bool `json:"document"`
}

type watsonResponse struct {
	Language  string `json:"language"`
	Sentiment *struct {
		Document struct {
			Score float64 `json:"score"`
			Label string  `json:"label"`
		} `json:"document"`
	} `json:"sentiment"`
	Emotion *struct {
		Document struct {
			Emotion map[string]float64 `json:"emotion"`
		} `json:"document"`
	} `json:"emotion"`
}

type watsonError struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func (w *watsonBackend) read(ctx context.Context, s, _ string) (reading, error) {
	req := watsonRequest{Text: s, Features: watsonFeatures{Sentiment: &watsonDoc{true}}}
	if w.cfg.Emotion {
		req.Features.Emotion = &watsonDoc{true}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return reading{}, err
	}
	rd, err := w.post(ctx, body)
	// Emotion exists for English only; ask again without it rather than
	// lose the sentiment.
	var f *failure
	if errors.As(err, &f) && f.status == analyzers.StatusSkipped && w.cfg.Emotion {
		req.Features.Emotion = nil
		body, _ = json.Marshal(req)
		return w.post(ctx, body)
	}
	return rd, err
}

func (w *watsonBackend) post(ctx context.Context, body []byte) (reading, error) {
	u := strings.TrimRight(w.cfg.URL, "/") + "/v1/analyze?version=" + url.QueryEscape(w.cfg.Version)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return reading{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hr.SetBasicAuth("apikey", w.key)
	resp, err := w.client.Do(hr)
	if err != nil {
		return reading{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reading{}, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return reading{}, watsonStatus(resp, raw)
	}
	var wr watsonResponse
	if err := json.Unmarshal(raw, &wr); err != nil {
		return reading{}, fmt.Errorf("answer is not JSON: %w", err)
	}
	if wr.Sentiment == nil {
		return reading{}, errors.New("answer without document sentiment")
	}
	rd := reading{Score: clamp(wr.Sentiment.Document.Score), Language: wr.Language}
	if wr.Emotion != nil {
		rd.Emotion = wr.Emotion.Document.Emotion
	}
	return rd, nil
}

// watsonStatus turns an error answer into an error: final for rejected
// credentials, a spent quota and an unsupported language, worth a retry
// for the rest (5xx, a proxy's 502).
func watsonStatus(resp *http.Response, raw []byte) error {
	var we watsonError
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &we) == nil && we.Error != "" {
		msg = we.Error
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &failure{analyzers.StatusError, fmt.Errorf("credentials rejected: %w", err)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return &failure{analyzers.StatusDeferred, fmt.Errorf("quota exhausted: %w", err)}
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "language"):
		return &failure{analyzers.StatusSkipped, fmt.Errorf("not supported: %w", err)}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &failure{analyzers.StatusError, fmt.Errorf("request rejected: %w", err)}
	}
	return err
}

func (w *watsonBackend) close() error {
	w.client.CloseIdleConnections()
	return nil
}
