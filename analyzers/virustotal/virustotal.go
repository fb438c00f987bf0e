// Package virustotal is the built-in analyzer that looks up the SHA-256 of
// every attachment, and of every file inside the archives among them, in
// VirusTotal (API v3, through github.com/VirusTotal/vt-go), and scores the
// number of engines that detect it.
//
// Lookups are cached, and the API's request budget is counted, in KV
// buckets that every worker process shares (analyzers.Stateful): a hash is
// asked once per cache period however many workers see it, and when the
// budget is spent the result is "deferred" and the message comes back
// later, instead of failing or hammering the API.
package virustotal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	vt "github.com/VirusTotal/vt-go"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive"
	"github.com/mailsift/mailsift/config"
)

// Name is the analyzer's name in configs and reports.
const Name = "virustotal"

// Symbols.
const (
	Malicious  = "VT_MALICIOUS"
	Unknown    = "VT_UNKNOWN"
	Uploaded   = "VT_UPLOADED"
	NotChecked = "VT_NOT_CHECKED"
)

var defaultScores = map[string]float64{
	Malicious:  20, // at full_score_engines; less below it
	Unknown:    0,
	Uploaded:   0,
	NotChecked: 0,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// The API key, from an environment variable or a file; never in the
	// config itself.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// URL is the API's base, for a proxy or a test server; empty means
	// https://www.virustotal.com.
	URL string `yaml:"url"`
	// Timeout bounds one API request.
	Timeout time.Duration `yaml:"timeout"`
	// MinimumEngines is how many engines must detect a file for
	// VT_MALICIOUS; FullScoreEngines is the count at which it scores in
	// full (below it, in proportion), as rspamd's virustotal module does.
	MinimumEngines   int `yaml:"minimum_engines"`
	FullScoreEngines int `yaml:"full_score_engines"`
	// Suspicious and Malicious are the score thresholds of the verdict.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// The API budget shared by every worker; 0 is no limit (a premium
	// key). The public API allows 4 a minute and 500 a day.
	RequestsPerMinute int `yaml:"requests_per_minute"`
	RequestsPerDay    int `yaml:"requests_per_day"`
	// How long an answer is kept, by kind: detected by at least
	// minimum_engines, seen and not detected, not known to VirusTotal.
	CacheMaliciousTTL time.Duration `yaml:"cache_malicious_ttl"`
	CacheCleanTTL     time.Duration `yaml:"cache_clean_ttl"`
	CacheUnknownTTL   time.Duration `yaml:"cache_unknown_ttl"`
	// MaxFiles bounds the files looked up per message (distinct hashes);
	// the rest are VT_NOT_CHECKED.
	MaxFiles int `yaml:"max_files"`
	// ArchiveMembers also looks up each file found inside archives.
	ArchiveMembers bool           `yaml:"archive_members"`
	Archives       archive.Limits `yaml:"archives"`
	// Upload sends files VirusTotal does not know for analysis. Off by
	// default: it hands the customer's file to a third party, where every
	// VirusTotal subscriber can download it.
	Upload        bool            `yaml:"upload"`
	UploadMaxSize config.ByteSize `yaml:"upload_max_size"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		APIKeyEnv:         "VT_API_KEY",
		Timeout:           15 * time.Second,
		MinimumEngines:    3,
		FullScoreEngines:  7,
		Suspicious:        5,
		Malicious:         15,
		RequestsPerMinute: 4,
		RequestsPerDay:    500,
		CacheMaliciousTTL: 7 * 24 * time.Hour,
		CacheCleanTTL:     24 * time.Hour,
		CacheUnknownTTL:   time.Hour,
		MaxFiles:          20,
		ArchiveMembers:    true,
		Archives:          archive.DefaultLimits(),
		UploadMaxSize:     32 << 20,
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Network:  true,
		Doc:      "sha256 of every attachment and archived file looked up in VirusTotal, cached and rate-limited across workers",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
	})
}

// Analyzer looks files up in VirusTotal. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	key    string
	keyErr error // why there is no key; Analyze then says skipped
	scores map[string]float64
	http   *http.Client
	now    func() time.Time

	attachOnce sync.Once
	state      *state
	stateErr   error
}

// New checks the config and builds the analyzer. A missing API key is not
// an error here: each result then says "skipped" and why, so a deployment
// whose secret is missing shows it in every report instead of not starting.
func New(cfg Config) (*Analyzer, error) {
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("timeout must be positive")
	}
	if cfg.MinimumEngines < 1 || cfg.FullScoreEngines < cfg.MinimumEngines {
		return nil, fmt.Errorf("minimum_engines must be at least 1 and full_score_engines at least minimum_engines")
	}
	if cfg.RequestsPerMinute < 0 || cfg.RequestsPerDay < 0 || cfg.MaxFiles < 1 {
		return nil, fmt.Errorf("requests_per_minute and requests_per_day must not be negative, max_files at least 1")
	}
	if cfg.CacheMaliciousTTL <= 0 || cfg.CacheCleanTTL <= 0 || cfg.CacheUnknownTTL <= 0 {
		return nil, fmt.Errorf("cache TTLs must be positive")
	}
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	a := &Analyzer{cfg: cfg, scores: scores, now: time.Now}
	a.key, a.keyErr = config.Secret("api key", cfg.APIKeyEnv, cfg.APIKeyFile)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	var rt http.RoundTripper = transport
	if cfg.URL != "" {
		base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("url %q: want http(s)://host[:port][/path]", cfg.URL)
		}
		rt = &rewrite{base: base, next: transport}
	}
	a.http = &http.Client{Transport: rt, Timeout: cfg.Timeout}
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// Attach opens the shared cache and budget buckets.
func (a *Analyzer) Attach(ctx context.Context, s analyzers.State) error {
	st, err := openState(ctx, s, a.cfg)
	if err != nil {
		return err
	}
	a.attachOnce.Do(func() { a.state = st })
	return nil
}

// stateFor returns the attached state, or one held in memory for a host
// that attached none: lookups then are cached and counted in this process
// only.
func (a *Analyzer) stateFor(ctx context.Context) (*state, error) {
	a.attachOnce.Do(func() {
		a.state, a.stateErr = openState(ctx, analyzers.NewMemoryState(), a.cfg)
	})
	return a.state, a.stateErr
}

// rewrite sends vt-go's requests, which always name www.virustotal.com,
// to the configured base instead. vt.SetHost would do it for every client
// in the process at once, without locking.
type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme = r.base.Scheme
	req.URL.Host = r.base.Host
	req.URL.Path = r.base.Path + req.URL.Path
	req.Host = r.base.Host
	return r.next.RoundTrip(req)
}

// withContext gives vt-go's requests, which it builds without a context,
// the context of the analysis, so cancelling it stops them.
type withContext struct {
	ctx  context.Context
	next http.RoundTripper
}

func (w withContext) RoundTrip(req *http.Request) (*http.Response, error) {
	return w.next.RoundTrip(req.WithContext(w.ctx))
}

func (a *Analyzer) client(ctx context.Context) *vt.Client {
	hc := &http.Client{Transport: withContext{ctx: ctx, next: a.http.Transport}, Timeout: a.cfg.Timeout}
	c := vt.NewClient(a.key, vt.WithHTTPClient(hc))
	c.Agent = "mailsift"
	return c
}

// FileResult is what VirusTotal says about one file.
type FileResult struct {
	SHA256 string `json:"sha256"`
	// Files names every place the content appears: a part's file name, or
	// a path inside an archive.
	Files []string `json:"files"`
	Part  string   `json:"part"`
	// Known is false when VirusTotal has never seen the file.
	Known      bool     `json:"known"`
	Malicious  int      `json:"malicious"`
	Suspicious int      `json:"suspicious"`
	Engines    int      `json:"engines"`
	Names      []string `json:"names,omitempty"` // most common detection names
	Uploaded   bool     `json:"uploaded,omitempty"`
	Cached     bool     `json:"cached"`
}

// Data is what the analyzer reports in a result's data.
type Data struct {
	Files []FileResult `json:"files"`
	// Unchecked lists files not looked up: over max_files, or left when
	// the budget ran out.
	Unchecked []string `json:"unchecked"`
	Requests  int      `json:"requests"`
}

// errQuota is the budget running out during an analysis.
var errQuota = errors.New("VirusTotal request budget spent")

// Analyze looks up the message's files. It returns an error when
// VirusTotal or the shared state could not be reached, so the message is
// tried again later; a spent budget is a "deferred" result.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	if a.keyErr != nil {
		return analyzers.Failed(Name, analyzers.StatusSkipped, fmt.Errorf("no VirusTotal API key: %w", a.keyErr)), nil
	}
	st, err := a.stateFor(ctx)
	if err != nil {
		return analyzers.Result{}, err
	}
	files, err := a.targets(ctx, m)
	if err != nil {
		return analyzers.Result{}, err
	}
	d := Data{Files: []FileResult{}, Unchecked: []string{}}
	cli := a.client(ctx)
	quota := false
	for i, f := range files {
		if i >= a.cfg.MaxFiles {
			d.Unchecked = append(d.Unchecked, f.Files...)
			continue
		}
		if quota {
			d.Unchecked = append(d.Unchecked, f.Files...)
			continue
		}
		res, err := a.lookup(ctx, cli, st, f, &d.Requests)
		switch {
		case errors.Is(err, errQuota):
			quota = true
			d.Unchecked = append(d.Unchecked, f.Files...)
			continue
		case errors.Is(err, errCredentials):
			r := analyzers.Failed(Name, analyzers.StatusError, err)
			r.SetData(d)
			return r, nil
		case err != nil:
			return analyzers.Result{}, fmt.Errorf("virustotal: %s (%s): %w", f.Files[0], f.SHA256, err)
		}
		d.Files = append(d.Files, res)
	}
	return a.result(d, quota)
}

// result turns the lookups into symbols and a verdict.
func (a *Analyzer) result(d Data, quota bool) (analyzers.Result, error) {
	var r analyzers.Result
	var bad, unknown, uploaded []string
	best := 0.0
	for _, f := range d.Files {
		switch {
		case f.Malicious >= a.cfg.MinimumEngines:
			bad = append(bad, fmt.Sprintf("%s: %d/%d engines: %s", f.Files[0], f.Malicious, f.Engines, strings.Join(f.Names, ", ")))
			best = max(best, min(1, float64(f.Malicious)/float64(a.cfg.FullScoreEngines)))
		case f.Uploaded:
			uploaded = append(uploaded, f.Files...)
		case !f.Known:
			unknown = append(unknown, f.Files...)
		}
	}
	if len(bad) > 0 {
		r.Add(Malicious, a.scores[Malicious]*best, bad...)
	}
	if len(unknown) > 0 {
		r.Add(Unknown, a.scores[Unknown], unknown...)
	}
	if len(uploaded) > 0 {
		r.Add(Uploaded, a.scores[Uploaded], uploaded...)
	}
	if len(d.Unchecked) > 0 && !quota {
		r.Add(NotChecked, a.scores[NotChecked], d.Unchecked...)
	}
	r.Verdict = analyzers.ScoreVerdict(r.Score, a.cfg.Suspicious, a.cfg.Malicious)
	if quota && r.Verdict == analyzers.VerdictClean {
		// Nothing found yet, but not everything was asked: come back
		// when the budget allows. What was asked is cached by then.
		def := analyzers.Failed(Name, analyzers.StatusDeferred,
			fmt.Errorf("%w: %d of %d files looked up; the rest wait for the next minute or day", errQuota, len(d.Files), len(d.Files)+len(d.Unchecked)))
		def.Symbols, def.Score = r.Symbols, r.Score
		if err := def.SetData(d); err != nil {
			return def, err
		}
		return def, nil
	}
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

// target is one distinct content to look up.
type target struct {
	SHA256  string
	Part    string
	Files   []string
	content []byte
}

// targets lists the distinct files of the message: attachments (those of
// attached messages through their own parts) and, with ArchiveMembers, the
// files inside archives, in the order they appear.
func (a *Analyzer) targets(ctx context.Context, m *analyzers.Message) ([]*target, error) {
	var out []*target
	byHash := map[string]*target{}
	add := func(sha, part, name string, content []byte) {
		if t, ok := byHash[sha]; ok {
			if !slices.Contains(t.Files, name) {
				t.Files = append(t.Files, name)
			}
			return
		}
		t := &target{SHA256: sha, Part: part, Files: []string{name}, content: content}
		byHash[sha] = t
		out = append(out, t)
	}
	for i := range m.Parts {
		p := &m.Parts[i]
		if !p.Attachment || p.ContentType == "message/rfc822" || p.ContentType == "message/global" {
			continue
		}
		name := p.Filename
		if name == "" {
			name = "part " + p.Path
		}
		// A truncated part's hash still covers the whole content.
		add(strings.ToLower(p.SHA256), p.Path, name, p.Content)
		if !a.cfg.ArchiveMembers || p.Truncated || archive.Detect(p.Content) == "" {
			continue
		}
		_, err := archive.Walk(ctx, name, p.Content, a.cfg.Archives, func(f *archive.File) error {
			if f.Encrypted || f.Archive != "" {
				return nil
			}
			var content []byte
			if a.cfg.Upload {
				content = slices.Clone(f.Content)
			}
			add(f.SHA256, p.Path, f.Path, content)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// errCredentials is VirusTotal refusing the API key: retrying will not
// help until someone fixes it.
var errCredentials = errors.New("VirusTotal refused the API key")

// lookup answers one file from the cache or the API.
func (a *Analyzer) lookup(ctx context.Context, cli *vt.Client, st *state, t *target, requests *int) (FileResult, error) {
	res := FileResult{SHA256: t.SHA256, Files: t.Files, Part: t.Part}
	if c, ok, err := st.cached(ctx, t.SHA256, a.now()); err != nil {
		return res, err
	} else if ok {
		c.apply(&res)
		res.Cached = true
		return res, nil
	}
	if err := a.spend(ctx, st); err != nil {
		return res, err
	}
	*requests++
	obj, err := cli.GetObject(vt.URL("files/%s", t.SHA256))
	var ve vt.Error
	switch {
	case err == nil:
		res.Known = true
		res.Malicious = int(int64Attr(obj, "last_analysis_stats.malicious"))
		res.Suspicious = int(int64Attr(obj, "last_analysis_stats.suspicious"))
		for _, k := range []string{"malicious", "suspicious", "undetected", "harmless"} {
			res.Engines += int(int64Attr(obj, "last_analysis_stats."+k))
		}
		res.Names = topNames(obj, 3)
	case errors.As(err, &ve) && ve.Code == "NotFoundError":
		if a.cfg.Upload && t.content != nil && int64(len(t.content)) <= int64(a.cfg.UploadMaxSize) {
			if err := a.spend(ctx, st); err != nil {
				return res, err
			}
			*requests++
			if err := a.upload(cli, t); err != nil {
				return res, err
			}
			res.Uploaded = true
		}
	case errors.As(err, &ve) && ve.Code == "QuotaExceededError":
		// The API counts what our budget did not: another key holder,
		// a clock apart. Close this minute for every worker.
		if err := st.exhaust(ctx, a.now(), a.cfg.RequestsPerMinute); err != nil {
			return res, err
		}
		return res, errQuota
	case errors.As(err, &ve) && (ve.Code == "WrongCredentialsError" || ve.Code == "AuthenticationRequiredError" ||
		ve.Code == "ForbiddenError" || ve.Code == "UserNotActiveError"):
		return res, fmt.Errorf("%w: %s: %s", errCredentials, ve.Code, ve.Message)
	case errors.As(err, &ve):
		return res, fmt.Errorf("VirusTotal answered %s: %s", ve.Code, ve.Message)
	default:
		return res, err
	}
	ttl := a.cfg.CacheCleanTTL
	switch {
	case !res.Known:
		ttl = a.cfg.CacheUnknownTTL
	case res.Malicious >= a.cfg.MinimumEngines:
		ttl = a.cfg.CacheMaliciousTTL
	}
	return res, st.store(ctx, t.SHA256, entryOf(res), a.now(), ttl)
}

// spend takes one request from the shared budget.
func (a *Analyzer) spend(ctx context.Context, st *state) error {
	ok, err := st.take(ctx, a.now(), a.cfg.RequestsPerMinute, a.cfg.RequestsPerDay)
	if err != nil {
		return err
	}
	if !ok {
		return errQuota
	}
	return nil
}

func (a *Analyzer) upload(cli *vt.Client, t *target) error {
	_, err := cli.NewFileScanner().Scan(strings.NewReader(string(t.content)), t.Files[0], nil)
	var ve vt.Error
	if errors.As(err, &ve) && ve.Code == "QuotaExceededError" {
		return errQuota
	}
	if err != nil {
		return fmt.Errorf("uploading: %w", err)
	}
	return nil
}

func int64Attr(obj *vt.Object, attr string) int64 {
	n, err := obj.GetInt64(attr)
	if err != nil {
		return 0
	}
	return n
}

// topNames returns the n detection names most engines agree on.
func topNames(obj *vt.Object, n int) []string {
	v, err := obj.Get("last_analysis_results")
	if err != nil {
		return nil
	}
	results, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	count := map[string]int{}
	for _, r := range results {
		e, ok := r.(map[string]any)
		if !ok || e["category"] != "malicious" {
			continue
		}
		if name, ok := e["result"].(string); ok && name != "" {
			count[name]++
		}
	}
	names := slices.Collect(maps.Keys(count))
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > n {
		names = names[:n]
	}
	return names
}
