package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers/archive"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

type entry = archivetest.Entry

// seen is what a walk reported, in a form tables can spell out.
type seen struct {
	files  []string // "path depth size" or "path encrypted"
	issues []string // "kind path"
	sum    archive.Summary
}

func walk(t *testing.T, name string, data []byte, lim archive.Limits) seen {
	t.Helper()
	var s seen
	sum, err := archive.Walk(context.Background(), name, data, lim, func(f *archive.File) error {
		if f.Encrypted {
			s.files = append(s.files, fmt.Sprintf("%s encrypted", f.Path))
			return nil
		}
		h := sha256.Sum256(f.Content)
		if hex.EncodeToString(h[:]) != f.SHA256 || int64(len(f.Content)) != f.Size {
			t.Errorf("%s: sha256 or size does not match its content", f.Path)
		}
		d := fmt.Sprintf("%s %d %d", f.Path, f.Depth, f.Size)
		if f.Archive != "" {
			d += " " + string(f.Archive)
		}
		s.files = append(s.files, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range sum.Issues {
		s.issues = append(s.issues, fmt.Sprintf("%s %s", is.Kind, is.Path))
	}
	s.sum = sum
	return s
}

func TestWalk(t *testing.T) {
	hello := []byte("hello\n")
	logs := archivetest.Tar(entry{Name: "logs/app.log", Content: []byte("GET / 200\n")}, entry{Name: "logs/err.log", Content: []byte("boom\n")})
	tests := []struct {
		name   string
		file   string
		data   []byte
		lim    archive.Limits
		format archive.Format
		files  []string
		issues []string
	}{
		{
			name: "not an archive", file: "a.pdf", data: []byte("%PDF-1.7\n"),
		},
		{
			name: "zip", file: "a.zip", format: archive.Zip,
			data:  archivetest.Zip(entry{Name: "a.txt", Content: hello}, entry{Name: "dir/", Content: nil}, entry{Name: "dir/b.bin", Content: []byte{1, 2, 3}, Store: true}),
			files: []string{"a.zip!/a.txt 1 6", "a.zip!/dir/b.bin 1 3"},
		},
		{
			name: "tar.gz", file: "logs.tar.gz", format: archive.Gzip,
			data:  archivetest.Gzip("", logs),
			files: []string{"logs.tar.gz!/logs.tar 1 3072 tar", "logs.tar.gz!/logs.tar!/logs/app.log 2 10", "logs.tar.gz!/logs.tar!/logs/err.log 2 5"},
		},
		{
			name: "tgz keeps the name from the gzip header", file: "x.tgz", format: archive.Gzip,
			data:  archivetest.Gzip("backup.tar", logs),
			files: []string{"x.tgz!/backup.tar 1 3072 tar", "x.tgz!/backup.tar!/logs/app.log 2 10", "x.tgz!/backup.tar!/logs/err.log 2 5"},
		},
		{
			name: "plain tar", file: "logs.tar", format: archive.Tar, data: logs,
			files: []string{"logs.tar!/logs/app.log 1 10", "logs.tar!/logs/err.log 1 5"},
		},
		{
			name: "bzip2", file: "note.txt.bz2", format: archive.Bzip2, data: archivetest.Bzip2Hello,
			files: []string{"note.txt.bz2!/note.txt 1 17"},
		},
		{
			name: "xz", file: "note.txt.xz", format: archive.XZ, data: archivetest.XZ(hello),
			files: []string{"note.txt.xz!/note.txt 1 6"},
		},
		{
			name: "zstd", file: "note.txt.zst", format: archive.Zstd, data: archivetest.Zstd(hello),
			files: []string{"note.txt.zst!/note.txt 1 6"},
		},
		{
			name: "zip inside zip inside gzip", file: "outer.gz", format: archive.Gzip,
			data: archivetest.Gzip("bundle.zip", archivetest.Zip(entry{Name: "inner.zip", Content: archivetest.Zip(entry{Name: "deep.txt", Content: hello})})),
			files: []string{"outer.gz!/bundle.zip 1 256 zip", "outer.gz!/bundle.zip!/inner.zip 2 160 zip",
				"outer.gz!/bundle.zip!/inner.zip!/deep.txt 3 6"},
		},
		{
			name: "office documents are files, not archives", file: "a.zip", format: archive.Zip,
			data:  archivetest.Zip(entry{Name: "contract.docx", Content: archivetest.OOXML(false)}),
			files: []string{"a.zip!/contract.docx 1 1045"},
		},
		{
			name: "a document at the top is not opened", file: "contract.docx", data: archivetest.OOXML(true),
		},
		{
			name: "encrypted entry", file: "invoice.zip", format: archive.Zip,
			data:   archivetest.Zip(entry{Name: "readme.txt", Content: hello}, entry{Name: "invoice.exe", Content: []byte("MZ..."), Password: "infected"}),
			files:  []string{"invoice.zip!/readme.txt 1 6", "invoice.zip!/invoice.exe encrypted"},
			issues: []string{"encrypted invoice.zip!/invoice.exe"},
		},
		{
			name: "ratio bomb", file: "zeros.zip", format: archive.Zip,
			data:   archivetest.Bomb("zeros.bin", 8<<20),
			issues: []string{"bomb zeros.zip!/zeros.bin"},
		},
		{
			name: "high ratio below the minimum size is no bomb", file: "blank.zip", format: archive.Zip,
			data:  archivetest.Bomb("blank.txt", archive.MinBombSize/2),
			files: []string{fmt.Sprintf("blank.zip!/blank.txt 1 %d", archive.MinBombSize/2)},
		},
		{
			name: "ratio limit from the config", file: "zeros.gz", format: archive.Gzip, lim: archive.Limits{MaxRatio: 5000},
			data:  archivetest.Gzip("", make([]byte, 2<<20)),
			files: []string{"zeros.gz!/zeros 1 2097152"},
		},
		{
			name: "nesting past the depth limit", file: "deep.zip", format: archive.Zip, lim: archive.Limits{MaxDepth: 2},
			data:   archivetest.Nested(4, "x.txt", hello),
			files:  []string{"deep.zip!/level-3.zip 1 462 zip", "deep.zip!/level-3.zip!/level-2.zip 2 308 zip"},
			issues: []string{"bomb deep.zip!/level-3.zip!/level-2.zip"},
		},
		{
			name: "file count limit", file: "many.zip", format: archive.Zip, lim: archive.Limits{MaxFiles: 2},
			data:   archivetest.Zip(entry{Name: "1", Content: hello}, entry{Name: "2", Content: hello}, entry{Name: "3", Content: hello}, entry{Name: "4", Content: hello}),
			files:  []string{"many.zip!/1 1 6", "many.zip!/2 1 6"},
			issues: []string{"limit many.zip!/3"},
		},
		{
			name: "size limit", file: "big.zip", format: archive.Zip, lim: archive.Limits{MaxSize: 10},
			data:   archivetest.Zip(entry{Name: "a", Content: hello}, entry{Name: "b", Content: hello}, entry{Name: "c", Content: hello}),
			files:  []string{"big.zip!/a 1 6"},
			issues: []string{"limit big.zip!/b"},
		},
		{
			name: "truncated zip", file: "cut.zip", format: archive.Zip,
			data:   archivetest.Zip(entry{Name: "a.txt", Content: hello})[:30],
			issues: []string{"corrupt cut.zip"},
		},
		{
			name: "damaged gzip", file: "bad.gz", format: archive.Gzip,
			data:   append(archivetest.Gzip("", bytes.Repeat(hello, 100))[:20], "garbage"...),
			issues: []string{"corrupt bad.gz!/bad"},
		},
		{
			name: "names with backslashes and dots", file: "odd.gz", format: archive.Gzip,
			data:  archivetest.Gzip(`C:\temp\..\run.bat`, hello),
			files: []string{"odd.gz!/run.bat 1 6"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := walk(t, tt.file, tt.data, tt.lim)
			if s.sum.Format != tt.format {
				t.Errorf("format %q, want %q", s.sum.Format, tt.format)
			}
			if !slices.Equal(s.files, tt.files) {
				t.Errorf("files:\n got %q\nwant %q", s.files, tt.files)
			}
			if !slices.Equal(s.issues, tt.issues) {
				t.Errorf("issues:\n got %q (%+v)\nwant %q", s.issues, s.sum.Issues, tt.issues)
			}
			if s.sum.Files != len(s.files) || s.sum.Issues == nil {
				t.Errorf("summary %+v does not match %d files", s.sum, len(s.files))
			}
		})
	}
}

func TestWalkBombStopsEarly(t *testing.T) {
	// 200 MiB of zeros: the walker must give up long before it has
	// decompressed them, and well within its size budget.
	data := archivetest.Gzip("", make([]byte, 200<<20))
	sum, err := archive.Walk(context.Background(), "zeros.gz", data, archive.Limits{}, func(*archive.File) error {
		t.Error("callback called for a bomb")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Issues) != 1 || sum.Issues[0].Kind != archive.Bomb {
		t.Fatalf("issues %+v, want one bomb", sum.Issues)
	}
	if sum.Bytes > 2*archive.MinBombSize {
		t.Errorf("decompressed %d bytes before stopping", sum.Bytes)
	}
}

func TestWalkStops(t *testing.T) {
	data := archivetest.Zip(entry{Name: "a", Content: []byte("a")}, entry{Name: "b", Content: []byte("b")})
	boom := errors.New("boom")
	n := 0
	_, err := archive.Walk(context.Background(), "x.zip", data, archive.Limits{}, func(*archive.File) error {
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("err %v after %d calls, want the callback's error after 1", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = archive.Walk(ctx, "x.zip", data, archive.Limits{}, func(*archive.File) error {
		t.Error("callback called after cancel")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		data []byte
		want archive.Format
	}{
		{archivetest.Zip(), archive.Zip},
		{archivetest.Zip(entry{Name: "a", Content: []byte("a")}), archive.Zip},
		{archivetest.Gzip("", nil), archive.Gzip},
		{archivetest.Bzip2Hello, archive.Bzip2},
		{archivetest.XZ(nil), archive.XZ},
		{archivetest.Zstd([]byte("x")), archive.Zstd},
		{archivetest.Tar(entry{Name: "a", Content: []byte("a")}), archive.Tar},
		{[]byte("BZh"), ""},
		{[]byte("MZ\x90\x00"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := archive.Detect(tt.data); got != tt.want {
			t.Errorf("Detect(%q...) = %q, want %q", tt.data[:min(len(tt.data), 8)], got, tt.want)
		}
	}
}

func TestEICARInsideEveryFormat(t *testing.T) {
	e := archivetest.EICAR()
	tests := map[string][]byte{
		"eicar.zip":     archivetest.Zip(entry{Name: "eicar.com", Content: e}),
		"eicar.tar.gz":  archivetest.Gzip("", archivetest.Tar(entry{Name: "eicar.com", Content: e})),
		"eicar.tar.xz":  archivetest.XZ(archivetest.Tar(entry{Name: "eicar.com", Content: e})),
		"eicar.tar.zst": archivetest.Zstd(archivetest.Tar(entry{Name: "eicar.com", Content: e})),
		"nested.zip":    archivetest.Nested(4, "eicar.com", e),
	}
	for name, data := range tests {
		found := false
		_, err := archive.Walk(context.Background(), name, data, archive.Limits{}, func(f *archive.File) error {
			if f.SHA256 == archivetest.EICARSHA256 && strings.HasSuffix(f.Path, "eicar.com") {
				found = true
			}
			return nil
		})
		if err != nil || !found {
			t.Errorf("%s: EICAR not found (err %v)", name, err)
		}
	}
}

func BenchmarkWalk(b *testing.B) {
	var entries []entry
	for i := range 20 {
		entries = append(entries, entry{Name: fmt.Sprintf("logs/%02d.log", i), Content: bytes.Repeat([]byte("GET /checkout 500 upstream timed out\n"), 200)})
	}
	data := archivetest.Zip(entries...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		archive.Walk(context.Background(), "logs.zip", data, archive.Limits{}, func(*archive.File) error { return nil })
	}
}
