// Package archivetest builds archives in memory for tests of the analyzers
// that look inside them: zips (stored, deflated, encrypted), tars, and the
// compressed streams the archive walker opens.
package archivetest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// EICAR is the 68-byte anti-virus test file. It is assembled from two
// halves so that this source file is not itself the test string.
func EICAR() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD` + `-ANTIVIRUS-TEST-FILE!$H+H*`)
}

// EICARSHA256 is EICAR's SHA-256.
const EICARSHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

// Entry is one file of an archive to build.
type Entry struct {
	Name    string
	Content []byte
	// Store keeps the content uncompressed (zip method 0).
	Store bool
	// Password encrypts a zip entry with the traditional PKWARE cipher,
	// the one every zip tool can open and most malware mail uses.
	Password string
}

// fixed keeps archives byte-identical from run to run.
var fixed = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// Zip builds a zip archive.
func Zip(entries ...Entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: fixed}
		if e.Store {
			h.Method = zip.Store
		}
		if e.Password != "" {
			writeEncrypted(zw, h, e)
			continue
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		w.Write(e.Content)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// writeEncrypted stores e encrypted with the PKWARE stream cipher
// (APPNOTE 6.1), uncompressed.
func writeEncrypted(zw *zip.Writer, h *zip.FileHeader, e Entry) {
	crc := crc32.ChecksumIEEE(e.Content)
	h.Method = zip.Store
	h.Flags |= 0x1
	h.CRC32 = crc
	h.UncompressedSize64 = uint64(len(e.Content))
	h.CompressedSize64 = uint64(len(e.Content) + 12)
	w, err := zw.CreateRaw(h)
	if err != nil {
		panic(err)
	}
	k := newKeys(e.Password)
	header := []byte("mailsift-tst")
	header[11] = byte(crc >> 24)
	out := make([]byte, 0, len(e.Content)+12)
	for _, b := range append(header, e.Content...) {
		out = append(out, k.encrypt(b))
	}
	w.Write(out)
}

type keys [3]uint32

func newKeys(password string) *keys {
	k := &keys{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(password); i++ {
		k.update(password[i])
	}
	return k
}

func crcByte(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ crc>>8
}

func (k *keys) update(b byte) {
	k[0] = crcByte(k[0], b)
	k[1] = (k[1]+k[0]&0xff)*134775813 + 1
	k[2] = crcByte(k[2], byte(k[1]>>24))
}

func (k *keys) encrypt(p byte) byte {
	t := k[2] | 2
	c := p ^ byte(t*(t^1)>>8)
	k.update(p)
	return c
}

// Tar builds a tar archive of regular files.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Content)), ModTime: fixed, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			panic(err)
		}
		tw.Write(e.Content)
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses data as one gzip stream; name goes into its header
// when not empty.
func Gzip(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	zw.ModTime = fixed
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// XZ compresses data as an xz stream.
func XZ(data []byte) []byte {
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
	if err != nil {
		panic(err)
	}
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// Zstd compresses data as a zstd frame.
func Zstd(data []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// Bzip2Hello is "hello from bzip2\n" compressed by bzip2 -9; the standard
// library reads bzip2 but does not write it.
var Bzip2Hello = []byte{
	0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0x55, 0xe9,
	0xaf, 0xe5, 0x00, 0x00, 0x03, 0xd9, 0x80, 0x00, 0x10, 0x40, 0x00, 0x10,
	0x00, 0x13, 0x66, 0xd0, 0x10, 0x20, 0x00, 0x22, 0x9a, 0x32, 0x69, 0xe9,
	0x1f, 0xa8, 0x40, 0x00, 0x0d, 0x2a, 0xf4, 0x26, 0xe0, 0xbf, 0x2c, 0x01,
	0x62, 0xee, 0x48, 0xa7, 0x0a, 0x12, 0x0a, 0xbd, 0x35, 0xfc, 0xa0,
}

// Nested wraps data in depth zips, each holding the previous one as
// "level-N.zip"; the innermost holds data as name.
func Nested(depth int, name string, data []byte) []byte {
	out := Zip(Entry{Name: name, Content: data})
	for i := 1; i < depth; i++ {
		out = Zip(Entry{Name: "level-" + string(rune('0'+i%10)) + ".zip", Content: out, Store: true})
	}
	return out
}

// Bomb is a zip holding one entry of size zero bytes, which deflate
// shrinks about a thousandfold.
func Bomb(name string, size int) []byte {
	return Zip(Entry{Name: name, Content: make([]byte, size)})
}

// OOXML builds a minimal Office Open XML package (a .docx, or a .docm when
// macros is true: then it holds word/vbaProject.bin).
func OOXML(macros bool) []byte {
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>`
	main := "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
	if macros {
		ct += `<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>`
		main = "application/vnd.ms-word.document.macroEnabled.main+xml"
	}
	ct += `<Override PartName="/word/document.xml" ContentType="` + main + `"/></Types>`
	entries := []Entry{
		{Name: "[Content_Types].xml", Content: []byte(ct)},
		{Name: "_rels/.rels", Content: []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`)},
		{Name: "word/document.xml", Content: []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Quarterly figures</w:t></w:r></w:p></w:body></w:document>`)},
	}
	if macros {
		entries = append(entries, Entry{Name: "word/vbaProject.bin", Content: OLE(true)})
	}
	return Zip(entries...)
}

// OLE builds the start of a Compound File (the container of .doc, .xls and
// vbaProject.bin): the signature, and a directory naming _VBA_PROJECT
// when macros is true. It is enough for signature and macro checks, not a
// file Office opens.
func OLE(macros bool) []byte {
	b := make([]byte, 1536)
	copy(b, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	b[0x1a], b[0x1c], b[0x1e] = 0x3e, 0xfe, 0x09 // version 3, little-endian, 512-byte sectors
	b[0x1d] = 0xff
	names := []string{"Root Entry", "WordDocument"}
	if macros {
		names = append(names, "Macros", "VBA", "_VBA_PROJECT", "dir")
	}
	for i, n := range names {
		off := 1024 + i*128
		if off+128 > len(b) {
			b = append(b, make([]byte, 512)...)
		}
		for j, r := range n {
			b[off+2*j] = byte(r)
		}
		b[off+64] = byte(2*len(n) + 2)
	}
	return b
}
