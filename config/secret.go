package config

import (
	"fmt"
	"os"
	"strings"
)

// Secret reads a secret from the environment variable named env, or else
// from the file at path; the config only ever names where a secret lives.
// A trailing newline in the file is dropped, since editors add one.
// It is an error when both or neither are given, or the source is empty.
func Secret(what, env, path string) (string, error) {
	switch {
	case env != "" && path != "":
		return "", fmt.Errorf("%s: give either an environment variable or a file, not both", what)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return v, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: file %s is empty", what, path)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s: not configured", what)
}
