package sentiment

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	language "cloud.google.com/go/language/apiv2"
	"cloud.google.com/go/language/apiv2/languagepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/config"
)

// GoogleConfig configures the Cloud Natural Language backend.
type GoogleConfig struct {
	// Endpoint is host:port of the API; empty means Google's.
	Endpoint string `yaml:"endpoint"`
	// CredentialsFile is a service account's JSON key. With neither it nor
	// an API key, the client uses Application Default Credentials.
	CredentialsFile string `yaml:"credentials_file"`
	// An API key, from the environment or a file.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// Plaintext speaks gRPC without TLS, and is accepted only for an
	// endpoint on a loopback address: a local test server.
	Plaintext bool `yaml:"plaintext"`
}

func defaultGoogle() GoogleConfig { return GoogleConfig{} }

type googleBackend struct {
	c *language.Client
}

func newGoogle(ctx context.Context, cfg GoogleConfig) (*googleBackend, error) {
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Plaintext {
		host, _, err := net.SplitHostPort(cfg.Endpoint)
		if err != nil || !isLoopback(host) {
			return nil, fmt.Errorf("plaintext: endpoint %q is not a loopback address", cfg.Endpoint)
		}
		opts = append(opts, option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	switch {
	case cfg.APIKeyEnv != "" || cfg.APIKeyFile != "":
		key, err := config.Secret("api key", cfg.APIKeyEnv, cfg.APIKeyFile)
		if err != nil {
			return nil, err
		}
		if cfg.Plaintext {
			// The client sends a key only over TLS; to a loopback test
			// server it goes the same way, in x-goog-api-key, by hand.
			opts = append(opts, option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithPerRPCCredentials(apiKeyCreds(key))))
		} else {
			opts = append(opts, option.WithAPIKey(key))
		}
	case cfg.CredentialsFile != "":
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, cfg.CredentialsFile))
	case cfg.Plaintext:
		opts = append(opts, option.WithoutAuthentication())
	}
	c, err := language.NewClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &googleBackend{c: c}, nil
}

// apiKeyCreds sends the API key as Google's clients do, in the
// x-goog-api-key header, over a plaintext connection.
type apiKeyCreds string

func (k apiKeyCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"x-goog-api-key": string(k)}, nil
}

func (apiKeyCreds) RequireTransportSecurity() bool { return false }

func (g *googleBackend) read(ctx context.Context, s, _ string) (reading, error) {
	resp, err := g.c.AnalyzeSentiment(ctx, &languagepb.AnalyzeSentimentRequest{
		Document: &languagepb.Document{
			Type:   languagepb.Document_PLAIN_TEXT,
			Source: &languagepb.Document_Content{Content: s},
		},
		EncodingType: languagepb.EncodingType_UTF8,
	})
	if err != nil {
		return reading{}, googleError(err)
	}
	ds := resp.GetDocumentSentiment()
	if ds == nil {
		return reading{}, errors.New("answer without document sentiment")
	}
	// The API's float32 values, rounded so they read as sent (-0.8, not
	// -0.800000011920929).
	mag := round(float64(ds.GetMagnitude()), 4)
	rd := reading{Score: clamp(round(float64(ds.GetScore()), 4)), Magnitude: &mag, Language: resp.GetLanguageCode()}
	if !resp.GetLanguageSupported() && resp.GetLanguageCode() != "" {
		return reading{Language: resp.GetLanguageCode(), Unsupported: "google does not support language " + resp.GetLanguageCode()}, nil
	}
	for _, sn := range resp.GetSentences() {
		rd.Sentences = append(rd.Sentences, Sentence{Text: sn.GetText().GetContent(), Score: clamp(round(float64(sn.GetSentiment().GetScore()), 4))})
	}
	return rd, nil
}

// googleError sorts gRPC errors into those worth retrying (returned as
// they are) and final ones.
func googleError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied:
		return &failure{analyzers.StatusError, fmt.Errorf("credentials rejected: %s", st.Message())}
	case codes.ResourceExhausted:
		return &failure{analyzers.StatusDeferred, fmt.Errorf("quota exhausted: %s", st.Message())}
	case codes.InvalidArgument:
		if strings.Contains(strings.ToLower(st.Message()), "language") {
			return &failure{analyzers.StatusSkipped, fmt.Errorf("not supported: %s", st.Message())}
		}
		return &failure{analyzers.StatusError, fmt.Errorf("request rejected: %s", st.Message())}
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func clamp(v float64) float64 { return max(-1, min(1, v)) }

func (g *googleBackend) close() error { return g.c.Close() }
