package archive_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/mailsift/mailsift/analyzers/archive"
)

// FuzzWalk checks that no input makes the walker panic or break its
// limits, and that every file it reports is hashed right. The seeds in
// testdata/fuzz/FuzzWalk cover each format, nesting, encryption and damage.
func FuzzWalk(f *testing.F) {
	lim := archive.Limits{MaxDepth: 3, MaxFiles: 50, MaxSize: 4 << 20, MaxRatio: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := 0
		sum, err := archive.Walk(context.Background(), "fuzz.bin", data, lim, func(f *archive.File) error {
			files++
			if f.Depth < 1 || f.Depth > lim.MaxDepth {
				t.Errorf("%s: depth %d outside 1..%d", f.Path, f.Depth, lim.MaxDepth)
			}
			if f.Encrypted {
				return nil
			}
			h := sha256.Sum256(f.Content)
			if hex.EncodeToString(h[:]) != f.SHA256 || int64(len(f.Content)) != f.Size {
				t.Errorf("%s: sha256 or size does not match the content", f.Path)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
		if files != sum.Files || files > lim.MaxFiles {
			t.Errorf("%d files reported, summary says %d, limit %d", files, sum.Files, lim.MaxFiles)
		}
		if sum.Bytes > int64(lim.MaxSize) {
			t.Errorf("decompressed %d bytes, limit %d", sum.Bytes, lim.MaxSize)
		}
		if (sum.Format == "") != (archive.Detect(data) == "") && sum.Format != "" {
			t.Errorf("format %q but Detect says %q", sum.Format, archive.Detect(data))
		}
	})
}
