package plugins

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxConcurrency = 8
)

// Config is one entry of the `plugins:` list.
type Config struct {
	// Name is the analyzer's name in reports, subjects and consumers:
	// letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Command is the plugin's executable: a path, or a name looked up in
	// PATH. A script with a shebang line is an executable too.
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
	// Env is added to the plugin's environment. "$VAR" and "${VAR}" in a
	// value are replaced from mailsift's own environment, so a secret is
	// named here, never written. The plugin inherits nothing else of
	// mailsift's environment but PATH, HOME, LANG, LC_ALL, TZ and TMPDIR.
	Env map[string]string `yaml:"env"`
	// SHA256 is the hex SHA-256 of Command's file; when set, a file that
	// does not match is never started.
	SHA256 string `yaml:"sha256"`
	// Timeout bounds one Analyze call; 0 takes the plugin's own default
	// from Describe, else DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrency is how many calls this process makes to the plugin at
	// once; 0 means DefaultMaxConcurrency.
	MaxConcurrency int `yaml:"max_concurrency"`
	// AutoMTLS authenticates and encrypts the connection with one-time
	// certificates, as go-plugin does for Go plugins. Unset means on; a
	// plugin written in another language without go-plugin's certificate
	// exchange sets it false.
	AutoMTLS *bool `yaml:"auto_mtls"`
	// Security overrides what the plugin's Describe says: whether a failure
	// of this plugin leaves a message's safety unknown.
	Security *bool `yaml:"security"`
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks what can be checked without starting the plugin.
func (c Config) Validate() error {
	if !validName.MatchString(c.Name) {
		return fmt.Errorf("plugin name %q: want 1 to 64 letters, digits, '-' or '_'", c.Name)
	}
	if c.Command == "" {
		return fmt.Errorf("plugin %s: command is required", c.Name)
	}
	if c.SHA256 != "" {
		if b, err := hex.DecodeString(c.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("plugin %s: sha256 %q is not 64 hex digits", c.Name, c.SHA256)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("plugin %s: timeout %s is negative", c.Name, c.Timeout)
	}
	if c.MaxConcurrency < 0 {
		return fmt.Errorf("plugin %s: max_concurrency %d is negative", c.Name, c.MaxConcurrency)
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("plugin %s: env name %q is not a variable name", c.Name, k)
		}
	}
	return nil
}

func (c Config) autoMTLS() bool { return c.AutoMTLS == nil || *c.AutoMTLS }

func (c Config) maxConcurrency() int {
	if c.MaxConcurrency > 0 {
		return c.MaxConcurrency
	}
	return DefaultMaxConcurrency
}

// commandPath resolves Command the way exec.Command will, so the checksum
// is taken of the file that runs.
func (c Config) commandPath() (string, error) {
	p, err := exec.LookPath(c.Command)
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err
		}
		return "", fmt.Errorf("plugin %s: command %s: %w", c.Name, c.Command, err)
	}
	return p, nil
}

// inheritedEnv is what a plugin gets from mailsift's environment: enough to
// run a program, and nothing of the secrets mailsift itself reads.
var inheritedEnv = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

func (c Config) environ() []string {
	var env []string
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		env = append(env, k+"="+os.Expand(c.Env[k], os.Getenv))
	}
	return env
}
