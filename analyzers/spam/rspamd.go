package spam

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mailsift/mailsift/config"
)

const engineRspamd = "rspamd"

// maxReply bounds what is read of an engine's answer.
const maxReply = 4 << 20

type rspamd struct {
	url      string
	password string
	client   *http.Client
}

func newRspamd(c RspamdConfig) (*rspamd, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rspamd.url %q: want http://host:port of rspamd's normal worker", c.URL)
	}
	r := &rspamd{url: strings.TrimRight(c.URL, "/") + "/checkv2", client: &http.Client{}}
	if c.PasswordEnv != "" || c.PasswordFile != "" {
		p, err := config.Secret("rspamd password", c.PasswordEnv, c.PasswordFile)
		if err != nil {
			return nil, err
		}
		r.password = p
	}
	return r, nil
}

func (r *rspamd) name() string { return engineRspamd }

// checkv2 is the part of rspamd's /checkv2 answer mailsift reads.
type checkv2 struct {
	IsSkipped     bool     `json:"is_skipped"`
	Score         *float64 `json:"score"`
	RequiredScore float64  `json:"required_score"`
	Action        string   `json:"action"`
	Symbols       map[string]struct {
		Name        string   `json:"name"`
		Score       float64  `json:"score"`
		Description string   `json:"description"`
		Options     []string `json:"options"`
	} `json:"symbols"`
	Messages map[string]json.RawMessage `json:"messages"`
	Error    string                     `json:"error"`
}

func (r *rspamd) check(ctx context.Context, raw []byte) (Verdict, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(raw))
	if err != nil {
		return Verdict{}, err
	}
	if r.password != "" {
		req.Header.Set("Password", r.password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return Verdict{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return Verdict{}, fmt.Errorf("reading the answer of %s: %w", r.url, err)
	}
	var c checkv2
	jerr := json.Unmarshal(body, &c)
	switch {
	case resp.StatusCode >= 500:
		// rspamd overloaded or restarting: worth another try.
		return Verdict{}, fmt.Errorf("%s: HTTP %s %s", r.url, resp.Status, strings.TrimSpace(c.Error))
	case resp.StatusCode != http.StatusOK:
		return Verdict{}, fmt.Errorf("%w: %s: HTTP %s %s", errGarbage, r.url, resp.Status, snippet(body))
	case jerr != nil || c.Score == nil || c.Action == "":
		return Verdict{}, fmt.Errorf("%w: %s answered %s", errGarbage, r.url, snippet(body))
	}
	v := Verdict{Engine: engineRspamd, Score: *c.Score, Required: c.RequiredScore, Action: c.Action, Rules: []Rule{}}
	v.Spam = c.Action != "no action" && c.Action != "greylist"
	for name, s := range c.Symbols {
		if s.Name != "" {
			name = s.Name
		}
		v.Rules = append(v.Rules, Rule{Name: name, Score: s.Score, Description: s.Description, Options: s.Options})
	}
	if m, ok := c.Messages["smtp_message"]; ok {
		var s string
		if json.Unmarshal(m, &s) == nil {
			v.Message = s
		}
	}
	return v, nil
}

// snippet quotes the start of an answer that could not be read.
func snippet(b []byte) string {
	const max = 80
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}
