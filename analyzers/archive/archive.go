// Package archive opens the archives found in mail (zip, tar, gzip, bzip2,
// xz, zstd) and hands every file inside them, nested archives included, to
// a callback, within limits on depth, count, size and compression ratio.
//
// It is shared by the analyzers that look at files (attachments, clamav,
// virustotal), so that each of them sees the same files inside an archive
// without any analyzer depending on another. It reads from memory only and
// never writes to disk.
package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/mailsift/mailsift/config"
)

// Format names a container format the walker opens.
type Format string

// Formats the walker opens.
const (
	Zip   Format = "zip"
	Tar   Format = "tar"
	Gzip  Format = "gzip"
	Bzip2 Format = "bzip2"
	XZ    Format = "xz"
	Zstd  Format = "zstd"
)

// Sep joins a container's path and the name of an entry inside it, as
// jar: URLs do: "logs.zip!/app/today.log".
const Sep = "!/"

// Limits bound the work done on one top-level file. The zero value of a
// field means its default.
type Limits struct {
	// MaxDepth is how many archives deep files are listed: 1 lists the
	// files of the attachment itself; a .tar.gz needs 2 (the gzip stream,
	// then the tar). An archive below that depth is not opened and is
	// reported as a bomb, since no one nests archives that deep by hand.
	// Default 5.
	MaxDepth int `yaml:"max_depth"`
	// MaxFiles is how many files are listed in all. Default 1000.
	MaxFiles int `yaml:"max_files"`
	// MaxSize is how many bytes are decompressed in all. Default 64 MiB.
	MaxSize config.ByteSize `yaml:"max_size"`
	// MaxRatio is the largest decompressed-to-compressed size ratio of one
	// stream or entry, checked once it has produced more than
	// MinBombSize bytes. Default 100.
	MaxRatio float64 `yaml:"max_ratio"`
}

// DefaultLimits returns the limits with every default spelled out, for
// configs that show them.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// MinBombSize is the output below which no ratio counts as a bomb: a
// kilobyte of blanks compresses a thousandfold and harms no one.
const MinBombSize = 1 << 20

// Defaults of Limits.
const (
	DefaultMaxDepth = 5
	DefaultMaxFiles = 1000
	DefaultMaxSize  = 64 << 20
	DefaultMaxRatio = 100
)

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	return l
}

// File is one file found inside an archive.
type File struct {
	// Path names the file from the top: the top-level name, then each
	// container's entry name, joined by Sep.
	Path string
	// Name is the entry's name inside its container.
	Name string
	// Container is the format of the archive that holds the file.
	Container Format
	// Depth is 1 for a file directly inside the top-level archive, 2 for
	// one inside an archive inside it, and so on.
	Depth int
	// Size is the decompressed size; for an encrypted entry, the size its
	// header declares.
	Size   int64
	SHA256 string // hex; empty when Encrypted
	// Content is the decompressed file. It is only valid during the
	// callback: the walker reuses nothing, but keeping it would keep
	// every file of the archive in memory.
	Content []byte
	// Encrypted is true for an entry that needs a password: its content is
	// not known.
	Encrypted bool
	// Archive is the file's own format when it is an archive the walker
	// opens next; its files follow it.
	Archive Format
}

// IssueKind says why part of an archive was not looked at.
type IssueKind string

// Kinds of Issue.
const (
	// Encrypted: an entry needs a password.
	Encrypted IssueKind = "encrypted"
	// Bomb: a compression ratio over MaxRatio, or nesting past MaxDepth.
	Bomb IssueKind = "bomb"
	// Limit: MaxFiles or MaxSize reached; the rest was not listed.
	Limit IssueKind = "limit"
	// Corrupt: the archive could not be read (truncated, damaged, or a
	// compression method not supported); the rest was not listed.
	Corrupt IssueKind = "corrupt"
)

// Issue is one place the walker could not see into.
type Issue struct {
	Kind   IssueKind `json:"kind"`
	Path   string    `json:"path"`
	Detail string    `json:"detail"`
}

// Summary is what Walk found, apart from the files themselves.
type Summary struct {
	// Format of the top-level data; empty when it is not an archive the
	// walker opens.
	Format Format
	Files  int   // files passed to the callback
	Bytes  int64 // bytes decompressed
	Issues []Issue
}

// Detect names the archive format of data by its first bytes, or returns
// "" when it is none the walker opens. Zip-based documents (Office Open
// XML, OpenDocument) are zips here too; Walk leaves them closed.
func Detect(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return Zip
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(data, []byte("BZh")) && len(data) > 3 && data[3] >= '1' && data[3] <= '9':
		return Bzip2
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return XZ
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case len(data) >= 512 && bytes.HasPrefix(data[257:], []byte("ustar")):
		return Tar
	}
	return ""
}

// IsDocument reports whether zip-format data is an office document: Office
// Open XML (docx, xlsx, pptx and their macro-enabled kinds) or OpenDocument.
// Their parts are the document, not files a person put in an archive, so
// Walk does not list them.
func IsDocument(zr *zip.Reader) bool {
	for i, f := range zr.File {
		switch {
		case f.Name == "[Content_Types].xml":
			return true
		case i == 0 && f.Name == "mimetype":
			return true
		}
		if i > 64 {
			break
		}
	}
	return false
}

// errStop ends a walk early without being an error of the walk.
var errStop = errors.New("stop")

type walker struct {
	ctx     context.Context
	lim     Limits
	fn      func(*File) error
	sum     Summary
	err     error // from fn or ctx: ends the walk and is returned
	stopped bool  // a limit was reached: nothing more is listed
}

// Walk opens data, named name, when it is an archive, and calls fn for
// every file inside it, depth first, in the order the archive stores them;
// a nested archive is passed to fn and then opened in turn. Data that is
// not an archive gives no call and a Summary with an empty Format.
//
// Everything Walk could not look into (encrypted entries, bombs, limits
// reached, damage) is an Issue in the Summary: none of it is an error.
// Walk returns an error only when fn does, or ctx ends.
func Walk(ctx context.Context, name string, data []byte, lim Limits, fn func(*File) error) (Summary, error) {
	w := &walker{ctx: ctx, lim: lim.withDefaults(), fn: fn}
	f := Detect(data)
	if f == Zip && isDocumentData(data) {
		f = ""
	}
	w.sum.Format = f
	if f != "" {
		w.open(name, data, f, 1)
	}
	if w.sum.Issues == nil {
		w.sum.Issues = []Issue{}
	}
	return w.sum, w.err
}

func isDocumentData(data []byte) bool {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	return err == nil && IsDocument(zr)
}

func (w *walker) issue(kind IssueKind, path, format string, args ...any) {
	// A corrupt or bombed archive can repeat the same fault for each of
	// thousands of entries; the first few say enough.
	if len(w.sum.Issues) >= 50 {
		return
	}
	w.sum.Issues = append(w.sum.Issues, Issue{Kind: kind, Path: path, Detail: fmt.Sprintf(format, args...)})
}

func (w *walker) done() bool {
	if w.err == nil {
		if err := w.ctx.Err(); err != nil {
			w.err = err
		}
	}
	return w.err != nil || w.stopped
}

// open lists the files of the archive at path; depth is the depth of its
// files.
func (w *walker) open(path string, data []byte, f Format, depth int) {
	if depth > w.lim.MaxDepth {
		w.issue(Bomb, path, "archive nested deeper than %d levels; not opened", w.lim.MaxDepth)
		return
	}
	switch f {
	case Zip:
		w.zip(path, data, depth)
	case Tar:
		w.tar(path, tar.NewReader(bytes.NewReader(data)), depth)
	case Gzip, Bzip2, XZ, Zstd:
		w.stream(path, data, f, depth)
	}
}

func (w *walker) zip(path string, data []byte, depth int) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		w.issue(Corrupt, path, "zip: %v", err)
		return
	}
	for _, zf := range zr.File {
		if w.done() {
			return
		}
		if zf.FileInfo().IsDir() {
			continue
		}
		p := path + Sep + zf.Name
		if zf.Flags&0x1 != 0 {
			w.issue(Encrypted, p, "zip entry needs a password")
			w.emit(&File{Path: p, Name: zf.Name, Container: Zip, Depth: depth, Size: int64(zf.UncompressedSize64), Encrypted: true})
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			w.issue(Corrupt, p, "zip: %v", err)
			continue
		}
		content, err := w.read(p, rc, int64(zf.CompressedSize64))
		rc.Close()
		if err != nil {
			continue
		}
		w.file(p, zf.Name, Zip, depth, content)
	}
}

func (w *walker) tar(path string, tr *tar.Reader, depth int) {
	for !w.done() {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			w.issue(Corrupt, path, "tar: %v", err)
			return
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue
		}
		p := path + Sep + h.Name
		// Tar stores files as they are: the ratio cannot exceed 1.
		content, err := w.read(p, tr, 0)
		if err != nil {
			if errors.Is(err, errTruncated) {
				return
			}
			continue
		}
		w.file(p, h.Name, Tar, depth, content)
	}
}

// stream decompresses a single compressed stream, which holds one file
// named after the stream with its compression suffix taken off.
func (w *walker) stream(path string, data []byte, f Format, depth int) {
	in := &countReader{r: bytes.NewReader(data)}
	var r io.Reader
	var err error
	name := path
	if i := strings.LastIndex(path, Sep); i >= 0 {
		name = path[i+len(Sep):]
	}
	name = baseName(name)
	switch f {
	case Gzip:
		var zr *gzip.Reader
		zr, err = gzip.NewReader(in)
		if err == nil {
			// One stream is one file; concatenated members are
			// joined, as gunzip does.
			if zr.Name != "" {
				name = baseName(zr.Name)
			} else {
				name = strip(name, ".tgz", ".tar", ".gz", "")
			}
			r = zr
		}
	case Bzip2:
		r = bzip2.NewReader(in)
		name = strip(name, ".tbz2", ".tar", ".tbz", ".tar", ".bz2", "")
	case XZ:
		r, err = xz.NewReader(in)
		name = strip(name, ".txz", ".tar", ".xz", "")
	case Zstd:
		var zr *zstd.Decoder
		// One goroutine and a bounded window: a crafted frame must
		// not make the decoder reserve gigabytes up front.
		zr, err = zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderMaxMemory(uint64(w.lim.MaxSize)+1))
		if err == nil {
			defer zr.Close()
			r = zr
		}
		name = strip(name, ".tzst", ".tar", ".zst", "")
	}
	if name == "" {
		name = "data"
	}
	p := path + Sep + name
	if err != nil {
		w.issue(Corrupt, path, "%s: %v", f, err)
		return
	}
	content, err := w.readCounting(p, r, in)
	if err != nil {
		return
	}
	w.file(p, name, f, depth, content)
}

// strip takes the first matching suffix off name and puts its
// replacement on: pairs of suffix and replacement.
func strip(name string, pairs ...string) string {
	lower := strings.ToLower(name)
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.HasSuffix(lower, pairs[i]) {
			return name[:len(name)-len(pairs[i])] + pairs[i+1]
		}
	}
	return name
}

// baseName is the last element of an entry name, whichever slash the
// archiver used.
func baseName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	b := path.Base("/" + name)
	if b == "/" {
		return ""
	}
	return b
}

// file hands one file to fn, then opens it when it is an archive.
func (w *walker) file(p, name string, container Format, depth int, content []byte) {
	f := &File{Path: p, Name: name, Container: container, Depth: depth, Size: int64(len(content)), Content: content}
	sum := sha256.Sum256(content)
	f.SHA256 = hex.EncodeToString(sum[:])
	if a := Detect(content); a != "" && !(a == Zip && isDocumentData(content)) {
		f.Archive = a
	}
	if !w.emit(f) {
		return
	}
	if f.Archive != "" {
		w.open(p, content, f.Archive, depth+1)
	}
}

// emit passes f to the callback, counting it against MaxFiles.
func (w *walker) emit(f *File) bool {
	if w.done() {
		return false
	}
	if w.sum.Files >= w.lim.MaxFiles {
		w.issue(Limit, f.Path, "more than %d files; the rest were not listed", w.lim.MaxFiles)
		w.stopped = true
		return false
	}
	w.sum.Files++
	if err := w.fn(f); err != nil {
		w.err = err
		return false
	}
	return true
}

var errTruncated = errors.New("truncated")

// read reads one entry whose compressed size is known (0 when it is
// stored as is), enforcing the size budget and the ratio.
func (w *walker) read(p string, r io.Reader, compressed int64) ([]byte, error) {
	return w.readWith(p, r, func() int64 { return compressed })
}

// readCounting is read for a stream whose compressed size is how much of
// in the decompressor has consumed so far.
func (w *walker) readCounting(p string, r io.Reader, in *countReader) ([]byte, error) {
	return w.readWith(p, r, func() int64 { return in.n })
}

func (w *walker) readWith(p string, r io.Reader, compressed func() int64) ([]byte, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			return nil, err
		}
		n, err := r.Read(chunk)
		if n > 0 {
			if w.sum.Bytes+int64(n) > int64(w.lim.MaxSize) {
				w.issue(Limit, p, "more than %d bytes decompressed; the rest was not listed", w.lim.MaxSize)
				w.stopped = true
				return nil, errTruncated
			}
			w.sum.Bytes += int64(n)
			buf.Write(chunk[:n])
			if c := compressed(); c > 0 && buf.Len() > MinBombSize && float64(buf.Len()) > w.lim.MaxRatio*float64(c) {
				w.issue(Bomb, p, "expands more than %g times (%d bytes from %d so far); not read further", w.lim.MaxRatio, buf.Len(), c)
				return nil, errTruncated
			}
		}
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			w.issue(Corrupt, p, "%v", err)
			return nil, err
		}
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
