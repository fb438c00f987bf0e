package pop3

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Backend stores the maildrops a Server serves. Its methods are called
// from many sessions at once; the Server makes sure only one session at a
// time has a given user's maildrop open.
type Backend interface {
	// List returns user's messages in a stable order: message numbers
	// in the session follow it.
	List(ctx context.Context, user string) ([]Entry, error)
	// Open returns the stored content of one message.
	Open(ctx context.Context, user, uid string) (io.ReadCloser, error)
	// Delete removes messages. Ones already gone are not an error.
	Delete(ctx context.Context, user string, uids []string) error
}

// Entry is one stored message.
type Entry struct {
	// UID is the UIDL answer: 1 to 70 characters 0x21-0x7E (RFC 1939 §7),
	// the same for the same message across sessions and restarts.
	UID string
	// Size is what goes on the wire before dot-stuffing: the content with
	// bare LF turned into CRLF and a CRLF added if the last line has none.
	// Use WireSize to compute it.
	Size int64
}

// WireSize returns the Entry.Size of a message with content r.
func WireSize(r io.Reader) (int64, error) {
	return copyWire(io.Discard, r, false, -1)
}

// copyWire writes a stored message as POP3 sends it: bare LF becomes CRLF,
// a missing final line ending is added, and with stuff each line starting
// with "." gets another (RFC 1939 §3). With bodyLines >= 0 it stops after
// that many lines past the header/body separator (TOP). It returns the
// octets written not counting stuffing, which is what LIST announces.
func copyWire(dst io.Writer, src io.Reader, stuff bool, bodyLines int) (int64, error) {
	return copyWireBuf(dst, bufio.NewReaderSize(src, 32<<10), stuff, bodyLines)
}

// copyWireBuf is copyWire reading through br, which a session reuses from
// one message to the next.
func copyWireBuf(dst io.Writer, br *bufio.Reader, stuff bool, bodyLines int) (int64, error) {
	var (
		n        int64
		bol      = true // at the beginning of a line
		lineLen  int64  // bytes of the current line before its '\n'
		lastCR   bool   // the last byte of the line so far is '\r'
		inBody   bool   // past the empty line after the headers
		bodySeen int    // body lines written
		crlf     = []byte("\r\n")
		dot      = []byte(".")
	)
	write := func(b []byte) error {
		_, err := dst.Write(b)
		return err
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if bol && stuff && chunk[0] == '.' {
				if werr := write(dot); werr != nil {
					return n, werr
				}
			}
			if chunk[len(chunk)-1] != '\n' {
				// Part of a long line, or the last line without an ending.
				if werr := write(chunk); werr != nil {
					return n, werr
				}
				n += int64(len(chunk))
				lineLen += int64(len(chunk))
				lastCR = chunk[len(chunk)-1] == '\r'
				bol = false
			} else {
				content := chunk[:len(chunk)-1]
				if len(content) > 0 {
					lastCR = content[len(content)-1] == '\r'
				}
				lineLen += int64(len(content))
				if lastCR {
					if werr := write(chunk); werr != nil {
						return n, werr
					}
					n += int64(len(chunk))
				} else {
					if werr := write(content); werr != nil {
						return n, werr
					}
					if werr := write(crlf); werr != nil {
						return n, werr
					}
					n += int64(len(content)) + 2
				}
				empty := lineLen == 0 || (lineLen == 1 && lastCR)
				bol, lineLen, lastCR = true, 0, false
				if inBody {
					bodySeen++
				} else if empty {
					inBody = true
				}
				if bodyLines >= 0 && inBody && bodySeen >= bodyLines {
					return n, nil
				}
			}
		}
		switch {
		case err == io.EOF:
			if !bol {
				if werr := write(crlf); werr != nil {
					return n, werr
				}
				n += 2
			}
			return n, nil
		case err == bufio.ErrBufferFull:
		case err != nil:
			return n, err
		}
	}
}

// uidOf derives a UIDL from a stable name: hex SHA-256 is 64 characters,
// inside RFC 1939's 70, and survives restarts as long as the name does.
func uidOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// fileIndex is the part both backends share: a set of files, their UIDs
// and their wire sizes, with sizes cached by (path, size, mtime) so that a
// LIST does not reread every message.
type fileIndex struct {
	mu    sync.Mutex
	sizes map[string]cachedSize
	paths map[string]string // uid -> path, from the last scan
}

type cachedSize struct {
	fileSize int64
	mtime    time.Time
	wire     int64
}

type indexed struct {
	path, key string // key is what the UID is derived from; sorted by it
}

func (x *fileIndex) entries(files []indexed) ([]Entry, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sizes == nil {
		x.sizes = map[string]cachedSize{}
	}
	paths := make(map[string]string, len(files))
	out := make([]Entry, 0, len(files))
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		} else if err != nil {
			return nil, err
		}
		c, ok := x.sizes[f.path]
		if !ok || c.fileSize != fi.Size() || !c.mtime.Equal(fi.ModTime()) {
			wire, err := fileWireSize(f.path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, err
			}
			c = cachedSize{fileSize: fi.Size(), mtime: fi.ModTime(), wire: wire}
			x.sizes[f.path] = c
		}
		uid := uidOf(f.key)
		paths[uid] = f.path
		out = append(out, Entry{UID: uid, Size: c.wire})
	}
	x.paths = paths
	return out, nil
}

func fileWireSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return WireSize(f)
}

func (x *fileIndex) path(uid string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.paths[uid]
	return p, ok
}

// DirBackend serves the .eml files of one folder, in file name order, to
// every user. The UID of a message is the hex SHA-256 of its file name.
// Deleting removes the file.
type DirBackend struct {
	Dir string
	idx fileIndex
}

// NewDirBackend returns a Backend over the .eml files in dir.
func NewDirBackend(dir string) *DirBackend { return &DirBackend{Dir: dir} }

func (b *DirBackend) scan() ([]indexed, error) {
	des, err := os.ReadDir(b.Dir)
	if err != nil {
		return nil, err
	}
	var files []indexed
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.EqualFold(filepath.Ext(de.Name()), ".eml") {
			continue
		}
		files = append(files, indexed{path: filepath.Join(b.Dir, de.Name()), key: de.Name()})
	}
	return files, nil
}

func (b *DirBackend) List(ctx context.Context, user string) ([]Entry, error) {
	files, err := b.scan()
	if err != nil {
		return nil, err
	}
	return b.idx.entries(files)
}

func (b *DirBackend) Open(ctx context.Context, user, uid string) (io.ReadCloser, error) {
	p, ok := b.idx.path(uid)
	if !ok {
		return nil, fmt.Errorf("message %s: %w", uid, fs.ErrNotExist)
	}
	return os.Open(p)
}

func (b *DirBackend) Delete(ctx context.Context, user string, uids []string) error {
	return removeAll(&b.idx, uids)
}

func removeAll(x *fileIndex, uids []string) error {
	var errs []error
	for _, uid := range uids {
		p, ok := x.path(uid)
		if !ok {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MaildirBackend serves a Maildir (new/ and cur/) to every user, ordered
// by the unique part of the file names, which starts with the delivery
// time. The UID is the hex SHA-256 of that unique part, so it stays the
// same when another reader moves a message from new/ to cur/ or changes
// its flags. Deleting removes the file.
type MaildirBackend struct {
	Dir string
	idx fileIndex
}

// NewMaildirBackend returns a Backend over the Maildir at dir.
func NewMaildirBackend(dir string) *MaildirBackend { return &MaildirBackend{Dir: dir} }

func (b *MaildirBackend) scan() ([]indexed, error) {
	var files []indexed
	for _, sub := range []string{"new", "cur"} {
		des, err := os.ReadDir(filepath.Join(b.Dir, sub))
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			name := de.Name()
			if !de.Type().IsRegular() || strings.HasPrefix(name, ".") {
				continue
			}
			unique, _, _ := strings.Cut(name, ":")
			files = append(files, indexed{path: filepath.Join(b.Dir, sub, name), key: unique})
		}
	}
	return files, nil
}

func (b *MaildirBackend) List(ctx context.Context, user string) ([]Entry, error) {
	files, err := b.scan()
	if err != nil {
		return nil, err
	}
	return b.idx.entries(files)
}

func (b *MaildirBackend) Open(ctx context.Context, user, uid string) (io.ReadCloser, error) {
	p, ok := b.idx.path(uid)
	if !ok {
		return nil, fmt.Errorf("message %s: %w", uid, fs.ErrNotExist)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Another Maildir reader may have renamed it (new/ to cur/, flags).
		if _, lerr := b.List(ctx, user); lerr == nil {
			if p, ok = b.idx.path(uid); ok {
				return os.Open(p)
			}
		}
	}
	return f, err
}

func (b *MaildirBackend) Delete(ctx context.Context, user string, uids []string) error {
	if _, err := b.List(ctx, user); err != nil { // pick up renames since the session began
		return err
	}
	return removeAll(&b.idx, uids)
}
