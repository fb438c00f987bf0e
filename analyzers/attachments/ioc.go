package attachments

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// loadIOCs reads an indicator file into iocs. The format is the lowest
// common denominator of threat feeds: a SHA-256 per line, optionally
// "sha256,name" as in a CSV export (whose "sha256,..." heading line is
// skipped), '#' comments and blank lines ignored. Anything else is an
// error naming the line, since a silently skipped indicator is a missed
// detection.
func loadIOCs(path string, iocs map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ioc_file: %w", err)
	}
	defer f.Close()
	defaultName := "listed in " + filepath.Base(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n, entries := 0, 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		hash, name, _ := strings.Cut(line, ",")
		hash = strings.ToLower(strings.Trim(strings.TrimSpace(hash), `"`))
		name = strings.Trim(strings.TrimSpace(name), `"`)
		if entries == 0 && hash == "sha256" {
			continue
		}
		if !isSHA256(hash) {
			return fmt.Errorf("ioc_file %s line %d: %q is not a sha256 (64 hex digits)", path, n, hash)
		}
		if name == "" {
			name = defaultName
		}
		iocs[hash] = name
		entries++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ioc_file %s line %d: %w", path, n+1, err)
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
