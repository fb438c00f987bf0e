package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/attachments"
	"github.com/mailsift/mailsift/analyzers/headers"
	"github.com/mailsift/mailsift/analyzers/keywords"
	"github.com/mailsift/mailsift/analyzers/language"
	"github.com/mailsift/mailsift/analyzers/mime"
	"github.com/mailsift/mailsift/analyzers/phishing"
	"github.com/mailsift/mailsift/analyzers/sentiment"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/ingest"
	"github.com/mailsift/mailsift/pipeline"
)

const (
	exampleConfig = "../../examples/mailsift.yaml"
	configDoc     = "../../docs/configuration.md"
)

// builtinConfigs are the option structs of the built-in analyzers, with
// their defaults: the reference config documents each of them.
var builtinConfigs = map[string]any{
	headers.Name:     headers.DefaultConfig(),
	attachments.Name: attachments.DefaultConfig(),
	mime.Name:        mime.DefaultConfig(),
	phishing.Name:    phishing.DefaultConfig(),
	sentiment.Name:   sentiment.DefaultConfig(),
	keywords.Name:    keywords.DefaultConfig(),
	language.Name:    language.DefaultConfig(),
}

// TestConfigExampleLoads checks that the annotated reference config loads
// and says what it claims: the values it shows as defaults are the
// defaults, and the two mailboxes are what their comments describe.
func TestConfigExampleLoads(t *testing.T) {
	f, err := loadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultFile()
	if !reflect.DeepEqual(f.NATS, want.NATS) {
		t.Errorf("nats section differs from pipeline.Defaults():\n got %+v\nwant %+v", f.NATS, want.NATS)
	}
	if f.NATS.URL != "" || f.NATS.StoreDir != "./data" || f.NATS.Replicas != 1 {
		t.Errorf("nats: url %q store_dir %q replicas %d; want the embedded server in ./data with 1 replica", f.NATS.URL, f.NATS.StoreDir, f.NATS.Replicas)
	}
	if !reflect.DeepEqual(f.Worker, want.Worker) {
		t.Errorf("worker section differs from pipeline.DefaultWorker():\n got %+v\nwant %+v", f.Worker, want.Worker)
	}
	if !reflect.DeepEqual(f.Reporter, want.Reporter) {
		t.Errorf("reporter section differs from pipeline.DefaultReporter():\n got %+v\nwant %+v", f.Reporter, want.Reporter)
	}
	if f.Log != want.Log {
		t.Errorf("log = %+v, want %+v", f.Log, want.Log)
	}

	if len(f.Mailboxes) != 2 {
		t.Fatalf("mailboxes: %d, want 2", len(f.Mailboxes))
	}
	// The first mailbox spells out every default: it must equal a mailbox
	// that gives only what has no default.
	support := ingest.Mailbox{Name: "support", Host: "pop.example.com", Username: "support@example.com", PasswordEnv: "SUPPORT_POP3_PASSWORD"}
	support.Defaults()
	if !reflect.DeepEqual(f.Mailboxes[0], support) {
		t.Errorf("mailbox support is not the defaults it claims to show:\n got %+v\nwant %+v", f.Mailboxes[0], support)
	}
	if p, err := f.Mailboxes[0].Policy(); err != nil || !p.AfterPublish {
		t.Errorf("support delete policy = %+v, %v; want after-publish", p, err)
	}
	billing := f.Mailboxes[1]
	if billing.Name != "billing" || billing.TLS != "starttls" || billing.Port != 110 ||
		billing.PasswordFile == "" || billing.PasswordEnv != "" || billing.OAuthTokenEnv != "" ||
		billing.PollInterval != 5*time.Minute || billing.MaxMessageSize != 25_000_000 || billing.Timeout != time.Minute {
		t.Errorf("mailbox billing = %+v", billing)
	}
	if p, err := billing.Policy(); err != nil || p.After != 168*time.Hour || p.AfterPublish || p.Never {
		t.Errorf("billing delete policy = %+v, %v; want delete after 168h", p, err)
	}
	for _, mb := range f.Mailboxes {
		if mb.InsecureSkipVerify || mb.AllowPlaintext {
			t.Errorf("mailbox %s turns a safety off; the reference must keep the safe defaults", mb.Name)
		}
	}

	if len(f.Outputs) != 2 || f.Outputs[0].Type != "jsonl" || f.Outputs[0].Path != "./reports.jsonl" ||
		f.Outputs[1].Type != "stdout" || f.Outputs[1].Format != "table" {
		t.Errorf("outputs = %+v, want jsonl ./reports.jsonl and stdout table", f.Outputs)
	}

	// Every analyzer section shows the analyzer's defaults.
	for name, def := range builtinConfigs {
		n, ok := f.Analyzers[name]
		if !ok {
			t.Errorf("analyzers.%s: no section", name)
			continue
		}
		var on bool
		if ok, err := n.Take("enabled", &on); !ok || err != nil || !on {
			t.Errorf("analyzers.%s.enabled = %v (present %v, err %v); want enabled: true shown", name, on, ok, err)
		}
		got := reflect.New(reflect.TypeOf(def))
		got.Elem().Set(reflect.ValueOf(def))
		if err := n.Named("analyzers." + name).Decode(got.Interface()); err != nil {
			t.Errorf("analyzers.%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got.Elem().Interface(), def) {
			t.Errorf("analyzers.%s differs from its DefaultConfig():\n got %+v\nwant %+v", name, got.Elem().Interface(), def)
		}
	}
}

// TestConfigExampleSelectsBuiltins checks the reference config runs the
// analyzers a config with no analyzers section runs.
func TestConfigExampleSelectsBuiltins(t *testing.T) {
	f, err := loadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	set, err := buildAnalyzers(f, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var local []string
	for _, r := range analyzers.Registered() {
		if !r.Network {
			local = append(local, r.Name)
		}
	}
	if !slices.Equal(set.names(), local) {
		t.Errorf("analyzers = %v, want every local one: %v", set.names(), local)
	}
	for _, name := range set.names() {
		if !set.security[name] {
			continue
		}
		if r, _ := analyzers.Lookup(name); !r.Security {
			t.Errorf("%s marked security but is not", name)
		}
	}
}

// TestConfigExampleHasNoSecrets checks the reference only ever names where
// a secret lives.
func TestConfigExampleHasNoSecrets(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(#\s*)?(-\s*)?(password|token|secret|api_key|oauth_token)\s*:`)
	if m := re.Find(b); m != nil {
		t.Errorf("examples/mailsift.yaml holds a secret value: %q", m)
	}
}

// TestConfigReferenceNamesEveryKey checks that every key mailsift reads is
// in the annotated reference (set, or as a commented-out line where it
// cannot be set beside another) and in docs/configuration.md, so neither
// falls behind the structs.
func TestConfigReferenceNamesEveryKey(t *testing.T) {
	keys := map[string]reflect.Type{}
	yamlKeys("", reflect.TypeOf(File{}), keys)
	for name, def := range builtinConfigs {
		keys["analyzers."+name+".enabled"] = reflect.TypeOf(true)
		yamlKeys("analyzers."+name, reflect.TypeOf(def), keys)
	}
	if len(keys) < 60 {
		t.Fatalf("found only %d keys; the walk is broken", len(keys))
	}

	text, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	yamlPaths("", &root, set)
	doc, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	for path := range keys {
		leaf := path[strings.LastIndex(path, ".")+1:]
		if !set[path] {
			commented := regexp.MustCompile(`(?m)^\s*#[\s#]*(-\s*)?` + regexp.QuoteMeta(leaf) + `:`)
			if !commented.Match(text) {
				t.Errorf("examples/mailsift.yaml: %s is neither set nor shown commented out", path)
			}
		}
		if !strings.Contains(string(doc), "`"+leaf+"`") {
			t.Errorf("docs/configuration.md: %s is not described (no `%s`)", path, leaf)
		}
	}

	// Every registered analyzer has a section in the reference, commented
	// out when it needs something the example cannot assume.
	for _, r := range analyzers.Registered() {
		sec := regexp.MustCompile(`(?m)^  (#\s*)?` + regexp.QuoteMeta(r.Name) + `:`)
		if !sec.Match(text) {
			t.Errorf("examples/mailsift.yaml: analyzer %s is registered but has no section", r.Name)
		}
		if !strings.Contains(string(doc), "`"+r.Name+"`") {
			t.Errorf("docs/configuration.md: analyzer %s is not described", r.Name)
		}
	}
}

// yamlKeys records the dotted YAML path of every field below t.
func yamlKeys(prefix string, t reflect.Type, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		// The analyzers section is keyed by analyzer; its keys come from
		// the analyzers' own structs.
		if f.Type == reflect.TypeOf(map[string]config.Node{}) {
			continue
		}
		out[path] = f.Type
		ft := f.Type
		for ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
			yamlKeys(path, ft, out)
		}
	}
}

// yamlPaths records the dotted path of every mapping key in n; the entries
// of a list share their list's path.
func yamlPaths(prefix string, n *yaml.Node, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			yamlPaths(prefix, c, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := n.Content[i].Value
			if prefix != "" {
				path = prefix + "." + path
			}
			out[path] = true
			yamlPaths(path, n.Content[i+1], out)
		}
	}
}

// writeConfig writes a config into a temporary directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailsift.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadAndBuild is what `mailsift run` and `scan` do with a config: load it,
// then pick and build the analyzers, which is where analyzer sections are
// decoded.
func loadAndBuild(path string) (*File, []string, error) {
	f, err := loadFile(path)
	if err != nil {
		return nil, nil, err
	}
	set, err := buildAnalyzers(f, nil, false)
	if err != nil {
		return f, nil, err
	}
	defer set.Close()
	return f, set.names(), nil
}

const okMailbox = `mailboxes:
  - name: support
    host: pop.example.com
    username: support@example.com
    password_env: SUPPORT_POP3_PASSWORD
`

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // all must be in the error
	}{
		{"unknown top-level key", "nats: {}\nmailboxs: []\n", []string{"line 2", "mailboxs"}},
		{"unknown nats key", "nats:\n  url: \"\"\n  replica: 3\n", []string{"line 3", "replica"}},
		{"unknown mailbox key", okMailbox + "    pasword_env: X\n", []string{"line 6", "pasword_env"}},
		{"secret value in place of its source", okMailbox + "    password: hunter2\n", []string{"line 6", "password"}},
		{"unknown worker key", "worker:\n  concurency: 8\n", []string{"line 2", "concurency"}},
		{"unknown threshold key", "reporter:\n  thresholds:\n    suspicous: 4\n", []string{"line 3", "suspicous"}},
		{"unknown output key", "outputs:\n  - type: jsonl\n    path: r.jsonl\n    fsync: true\n", []string{"line 4", "fsync"}},
		{"unknown log key", "log:\n  levl: debug\n", []string{"line 2", "levl"}},
		{"unknown analyzer option", "analyzers:\n  headers:\n    future_skw: 1h\n", []string{"analyzers.headers", "line 3", "future_skw"}},
		{"analyzer option of the wrong type", "analyzers:\n  mime:\n    nesting_depth: deep\n", []string{"analyzers.mime", "line 3"}},
		{"enabled not a bool", "analyzers:\n  mime:\n    enabled: maybe\n", []string{"analyzers.mime", "line 3"}},
		{"bad duration", "worker:\n  timeout: 5 minutes\n", []string{"line 2", "5 minutes"}},
		{"days are not a duration unit", "nats:\n  max_age: 7d\n", []string{"line 2", "7d"}},
		{"bad mailbox duration", okMailbox + "    poll_interval: 1 minute\n", []string{"line 6", "1 minute"}},
		{"bad size", okMailbox + "    max_message_size: lots\n", []string{"line 6", "lots"}},
		{"wrong type", "worker:\n  concurrency: four\n", []string{"line 2", "four"}},
		{"mailbox name with a space", strings.Replace(okMailbox, "name: support", "name: my support", 1), []string{`mailbox name "my support"`}},
		{"mailbox name missing", strings.Replace(okMailbox, "name: support", "name: ''", 1), []string{`mailbox name ""`}},
		{"duplicate mailbox name", okMailbox + strings.TrimPrefix(okMailbox, "mailboxes:\n"), []string{`"support" is used twice`}},
		{"delete: soon", okMailbox + "    delete: soon\n", []string{"mailbox support", `delete "soon"`}},
		{"delete: zero", okMailbox + "    delete: 0s\n", []string{"mailbox support", `delete "0s"`}},
		{"unknown tls mode", okMailbox + "    tls: ssl\n", []string{"mailbox support", `tls "ssl"`}},
		{"mailbox without host", strings.Replace(okMailbox, "    host: pop.example.com\n", "", 1), []string{"mailbox support", "host is required"}},
		{"poll interval below a second", okMailbox + "    poll_interval: 500ms\n", []string{"mailbox support", "poll_interval"}},
		{"unknown analyzer section", "analyzers:\n  nosuchanalyzer: {}\n", []string{"analyzers.nosuchanalyzer", "no such analyzer", "headers"}},
		{"unknown symbol in scores", "analyzers:\n  attachments:\n    scores: {NOT_A_SYMBOL: 1}\n", []string{"attachments", "NOT_A_SYMBOL"}},
		{"unknown output type", "outputs:\n  - type: pigeon\n", []string{`unknown type "pigeon"`}},
		{"output without type", "outputs:\n  - path: r.jsonl\n", []string{"type is required"}},
		{"jsonl without path", "outputs:\n  - type: jsonl\n", []string{"jsonl", "path is required"}},
		{"webhook without url", "outputs:\n  - type: webhook\n", []string{"webhook", "url"}},
		{"webhook url not http", "outputs:\n  - {type: webhook, url: 'ftp://x/y'}\n", []string{"webhook", "ftp://x/y"}},
		{"when that does not compile", "outputs:\n  - {type: stdout, when: 'verdict =='}\n", []string{"output-stdout", "when"}},
		{"bad stdout format", "outputs:\n  - type: stdout\n    format: xml\n", []string{`format "xml"`}},
		{"max_deliveries zero", "worker:\n  max_deliveries: 0\n", []string{"worker.max_deliveries"}},
		{"report_timeout zero", "reporter:\n  report_timeout: 0s\n", []string{"reporter.report_timeout"}},
		{"not yaml", "nats:\n  url: [\n", []string{"line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadAndBuild(writeConfig(t, tt.yaml))
			if err == nil {
				t.Fatalf("no error; want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestConfigErrorsNameTheFile checks decoding errors say which file.
func TestConfigErrorsNameTheFile(t *testing.T) {
	p := writeConfig(t, "nats:\n  urll: x\n")
	_, err := loadFile(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want it to name %s", err, p)
	}
}

func TestConfigValid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, f *File, names []string)
	}{
		{"empty file gives the defaults", "", func(t *testing.T, f *File, names []string) {
			want := defaultFile()
			want.path = f.path
			if !reflect.DeepEqual(*f, want) {
				t.Errorf("got %+v", *f)
			}
			if len(names) != len(builtinConfigs) {
				t.Errorf("analyzers = %v, want the %d built-ins", names, len(builtinConfigs))
			}
		}},
		{"mailbox defaults", okMailbox, func(t *testing.T, f *File, _ []string) {
			mb := f.Mailboxes[0]
			if mb.TLS != "implicit" || mb.Port != 995 || mb.Auth != "auto" || mb.Delete != "after-publish" ||
				mb.PollInterval != time.Minute || mb.MaxMessageSize != 50_000_000 || mb.Timeout != 30*time.Second ||
				mb.AllowPlaintext || mb.InsecureSkipVerify {
				t.Errorf("got %+v", mb)
			}
		}},
		{"starttls defaults to port 110", okMailbox + "    tls: starttls\n", func(t *testing.T, f *File, _ []string) {
			if f.Mailboxes[0].Port != 110 {
				t.Errorf("port = %d", f.Mailboxes[0].Port)
			}
		}},
		{"delete never", okMailbox + "    delete: never\n", func(t *testing.T, f *File, _ []string) {
			if p, err := f.Mailboxes[0].Policy(); err != nil || !p.Never {
				t.Errorf("policy = %+v, %v", p, err)
			}
		}},
		{"sizes in both unit systems", okMailbox + "    max_message_size: 10MiB\nnats:\n  max_bytes: 2GB\n", func(t *testing.T, f *File, _ []string) {
			if f.Mailboxes[0].MaxMessageSize != 10<<20 || f.NATS.MaxBytes != 2e9 {
				t.Errorf("max_message_size %d, max_bytes %d", f.Mailboxes[0].MaxMessageSize, f.NATS.MaxBytes)
			}
		}},
		{"a cluster is url plus replicas", "nats:\n  url: nats://a:4222,nats://b:4222\n  replicas: 3\n", func(t *testing.T, f *File, _ []string) {
			want := pipeline.Defaults()
			want.URL, want.Replicas = "nats://a:4222,nats://b:4222", 3
			if !reflect.DeepEqual(f.NATS, want) {
				t.Errorf("nats = %+v", f.NATS)
			}
		}},
		{"enabled: false turns an analyzer off", "analyzers:\n  mime: {enabled: false}\n", func(t *testing.T, _ *File, names []string) {
			if slices.Contains(names, "mime") || !slices.Contains(names, "headers") {
				t.Errorf("analyzers = %v", names)
			}
		}},
		{"a section alone changes options, not selection", "analyzers:\n  headers:\n    future_skew: 1h\n", func(t *testing.T, _ *File, names []string) {
			if len(names) != len(builtinConfigs) {
				t.Errorf("analyzers = %v", names)
			}
		}},
		{"empty analyzer section", "analyzers:\n  headers:\n", func(t *testing.T, _ *File, names []string) {
			if !slices.Contains(names, "headers") {
				t.Errorf("analyzers = %v", names)
			}
		}},
		{"webhook with a condition", "outputs:\n  - {type: webhook, url: 'https://hooks.example.com/m', secret_env: HOOK_SECRET, when: 'verdict == \"malicious\"'}\n", func(t *testing.T, f *File, _ []string) {
			o := f.Outputs[0]
			if o.Type != "webhook" || o.SecretEnv != "HOOK_SECRET" || o.When != `verdict == "malicious"` {
				t.Errorf("output = %+v", o)
			}
		}},
		{"metrics listener", "metrics:\n  listen: 127.0.0.1:9464\n", func(t *testing.T, f *File, _ []string) {
			if f.Metrics.Listen != "127.0.0.1:9464" {
				t.Errorf("metrics = %+v", f.Metrics)
			}
		}},
		{"two outputs of one type with names", "outputs:\n  - {type: jsonl, path: a.jsonl, name: all}\n  - {type: jsonl, path: b.jsonl, name: copy}\n", func(t *testing.T, f *File, _ []string) {
			if f.Outputs[0].ConsumerName() == f.Outputs[1].ConsumerName() {
				t.Errorf("consumers %q and %q collide", f.Outputs[0].ConsumerName(), f.Outputs[1].ConsumerName())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, names, err := loadAndBuild(writeConfig(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f, names)
		})
	}
}

// TestConfigDeployConfigsLoad checks the configs under deploy/ load, point
// at a cluster, and that each POP3 and NATS password variable they name is
// handed to the processes that read it.
func TestConfigDeployConfigsLoad(t *testing.T) {
	compose := readYAML(t, "../../deploy/compose.yaml")[0]
	services := compose["services"].(map[string]any)
	k8sIngest := k8sEnv(t, "../../deploy/kubernetes/ingest.yaml")
	k8sAnalyze := k8sEnv(t, "../../deploy/kubernetes/analyze.yaml")
	k8sReport := k8sEnv(t, "../../deploy/kubernetes/report.yaml")

	var k8sConfig string
	for _, d := range readYAML(t, "../../deploy/kubernetes/configmap.yaml") {
		if d["kind"] == "ConfigMap" {
			k8sConfig = d["data"].(map[string]any)["mailsift.yaml"].(string)
		}
	}
	// The Deployments probe /healthz and /readyz, which only the metrics
	// listener serves: its port must be the one the config listens on.
	f, err := loadFile(writeConfig(t, k8sConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ingest", "analyze", "report"} {
		port := k8sProbePort(t, "../../deploy/kubernetes/"+p+".yaml")
		if port == "" {
			continue
		}
		if !strings.HasSuffix(f.Metrics.Listen, ":"+port) {
			t.Errorf("kubernetes %s probes port %s, but metrics.listen is %q", p, port, f.Metrics.Listen)
		}
	}
	setups := []struct {
		name  string
		path  string
		roles map[string][]string // role: the variables the process gets
	}{
		{"compose", "../../deploy/mailsift.cluster.yaml", map[string][]string{
			"ingest": composeEnv(t, services, "ingest"), "analyze": composeEnv(t, services, "analyze"), "report": composeEnv(t, services, "report"),
		}},
		{"kubernetes", writeConfig(t, k8sConfig), map[string][]string{"ingest": k8sIngest, "analyze": k8sAnalyze, "report": k8sReport}},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			f, _, err := loadAndBuild(s.path)
			if err != nil {
				t.Fatal(err)
			}
			if f.NATS.URL == "" || f.NATS.Replicas != 3 {
				t.Errorf("nats url %q replicas %d; want a cluster with 3 replicas", f.NATS.URL, f.NATS.Replicas)
			}
			for role, env := range s.roles {
				if !slices.Contains(env, f.NATS.PasswordEnv) {
					t.Errorf("%s does not get %s (nats.password_env)", role, f.NATS.PasswordEnv)
				}
			}
			for _, mb := range f.Mailboxes {
				if mb.PasswordEnv == "" || !slices.Contains(s.roles["ingest"], mb.PasswordEnv) {
					t.Errorf("ingest does not get %q (mailbox %s password_env)", mb.PasswordEnv, mb.Name)
				}
				for _, role := range []string{"analyze", "report"} {
					if slices.Contains(s.roles[role], mb.PasswordEnv) {
						t.Errorf("%s gets %s, a POP3 password only ingest needs", role, mb.PasswordEnv)
					}
				}
			}
		})
	}
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, d)
	}
}

func composeEnv(t *testing.T, services map[string]any, name string) []string {
	t.Helper()
	svc, ok := services[name].(map[string]any)
	if !ok {
		t.Fatalf("compose: no service %s", name)
	}
	var out []string
	for k := range svc["environment"].(map[string]any) {
		out = append(out, k)
	}
	return out
}

// k8sEnv lists the environment variables of the Deployment's containers.
func k8sEnv(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, d := range readYAML(t, path) {
		if d["kind"] != "Deployment" {
			continue
		}
		spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		for _, c := range spec["containers"].([]any) {
			env, _ := c.(map[string]any)["env"].([]any)
			for _, e := range env {
				out = append(out, fmt.Sprint(e.(map[string]any)["name"]))
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no Deployment with env", path)
	}
	return out
}

// k8sProbePort is the container port the Deployment's probes use, "" when
// it has none.
func k8sProbePort(t *testing.T, path string) string {
	t.Helper()
	for _, d := range readYAML(t, path) {
		if d["kind"] != "Deployment" {
			continue
		}
		spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		for _, c := range spec["containers"].([]any) {
			cm := c.(map[string]any)
			probe, ok := cm["readinessProbe"].(map[string]any)
			if !ok {
				continue
			}
			name := fmt.Sprint(probe["httpGet"].(map[string]any)["port"])
			ports, _ := cm["ports"].([]any)
			for _, p := range ports {
				pm := p.(map[string]any)
				if fmt.Sprint(pm["name"]) == name {
					return fmt.Sprint(pm["containerPort"])
				}
			}
			return name
		}
	}
	return ""
}
