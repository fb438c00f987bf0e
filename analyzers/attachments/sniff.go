package attachments

import (
	"archive/zip"
	"bytes"
	"path"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// family is a coarse kind of file. Types are compared by family, not by
// exact media type: mail clients declare image/jpg for PNGs and
// application/octet-stream for anything, and only a change of family
// (a "PDF" that is a program) says something about the sender.
type family string

const (
	famUnknown    family = ""
	famExecutable family = "executable"
	famScript     family = "script"
	famArchive    family = "archive"
	famOffice     family = "office document"
	famPDF        family = "pdf"
	famImage      family = "image"
	famAudio      family = "audio"
	famVideo      family = "video"
	famText       family = "text"
	famMessage    family = "message"
)

// sniff returns the media type of content by its bytes.
func sniff(content []byte) *mimetype.MIME {
	return mimetype.Detect(content)
}

// mediaType is the sniffed type without parameters ("; charset=utf-8").
func mediaType(m *mimetype.MIME) string {
	t, _, _ := strings.Cut(m.String(), ";")
	return t
}

// typeFamilies maps media types (and those of their parents) to families;
// sniffedFamily walks up mimetype's tree until one matches.
var typeFamilies = map[string]family{
	"application/vnd.microsoft.portable-executable": famExecutable,
	"application/x-elf":                             famExecutable,
	"application/x-mach-binary":                     famExecutable,
	"application/x-ms-installer":                    famExecutable,
	"application/x-ms-shortcut":                     famExecutable,
	"application/java-archive":                      famExecutable,
	"application/vnd.android.package-archive":       famExecutable,
	"application/x-java-applet":                     famExecutable,
	"application/vnd.ms-htmlhelp":                   famExecutable,
	"text/x-shellscript":                            famScript,
	"text/x-python":                                 famScript,
	"text/x-perl":                                   famScript,
	"text/x-php":                                    famScript,
	"text/x-ruby":                                   famScript,
	"text/x-lua":                                    famScript,
	"text/x-tcl":                                    famScript,
	"text/javascript":                               famScript,
	"application/zip":                               famArchive,
	"application/x-7z-compressed":                   famArchive,
	"application/x-rar-compressed":                  famArchive,
	"application/x-tar":                             famArchive,
	"application/gzip":                              famArchive,
	"application/x-bzip2":                           famArchive,
	"application/x-xz":                              famArchive,
	"application/zstd":                              famArchive,
	"application/vnd.ms-cab-compressed":             famArchive,
	"application/x-cpio":                            famArchive,
	"application/x-lzip":                            famArchive,
	"application/x-archive":                         famArchive,
	"application/x-iso9660-image":                   famArchive,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   famOffice,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         famOffice,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": famOffice,
	"application/x-ole-storage": famOffice,
	"application/rtf":           famOffice,
	"text/rtf":                  famOffice,
	"application/epub+zip":      famOffice,
	"application/pdf":           famPDF,
	"message/rfc822":            famMessage,
}

func sniffedFamily(m *mimetype.MIME) family {
	for ; m != nil; m = m.Parent() {
		s := m.String()
		if f, ok := typeFamilies[s]; ok {
			return f
		}
		if f := declaredFamily(s); f != famUnknown && f != famText {
			return f
		}
		if strings.HasPrefix(s, "text/") {
			return famText
		}
	}
	return famUnknown
}

// declaredFamily is the family of a media type as a sender wrote it,
// famUnknown for the generic ones that claim nothing.
func declaredFamily(t string) family {
	t = strings.ToLower(strings.TrimSpace(t))
	if f, ok := typeFamilies[t]; ok {
		return f
	}
	if m := mimetype.Lookup(t); m != nil && m.String() != t {
		return sniffedFamily(m)
	}
	switch {
	case t == "", t == "application/octet-stream", t == "binary/octet-stream", t == "application/unknown",
		t == "application/x-download", t == "application/force-download", t == "application/download":
		return famUnknown
	case strings.HasPrefix(t, "image/"):
		return famImage
	case strings.HasPrefix(t, "audio/"):
		return famAudio
	case strings.HasPrefix(t, "video/"):
		return famVideo
	case strings.HasPrefix(t, "message/"):
		return famMessage
	case strings.Contains(t, "msword"), strings.Contains(t, "ms-word"), strings.Contains(t, "ms-excel"),
		strings.Contains(t, "ms-powerpoint"), strings.Contains(t, "officedocument"), strings.Contains(t, "opendocument"),
		strings.Contains(t, "ms-office"):
		return famOffice
	case strings.Contains(t, "zip"), strings.Contains(t, "compressed"), strings.Contains(t, "x-tar"):
		return famArchive
	case strings.Contains(t, "javascript"), strings.Contains(t, "x-sh"), strings.Contains(t, "x-python"),
		strings.Contains(t, "vbscript"), strings.Contains(t, "powershell"), strings.Contains(t, "x-bat"):
		return famScript
	case strings.Contains(t, "msdownload"), strings.Contains(t, "executable"), strings.Contains(t, "x-msdos-program"),
		strings.Contains(t, "x-ms-installer"), strings.Contains(t, "x-msi"):
		return famExecutable
	case strings.HasPrefix(t, "text/"), t == "application/json", t == "application/xml", t == "application/ics":
		return famText
	}
	return famUnknown
}

// extFamilies are the families file names promise.
var extFamilies = func() map[string]family {
	m := map[string]family{}
	add := func(f family, exts ...string) {
		for _, e := range exts {
			m[e] = f
		}
	}
	add(famExecutable, "exe", "dll", "scr", "com", "pif", "cpl", "msi", "msp", "lnk", "jar", "apk", "chm", "sys", "drv", "ocx", "elf", "so", "dylib", "app")
	add(famScript, "sh", "bash", "py", "pl", "php", "rb", "lua", "tcl", "js", "jse", "vbs", "vbe", "ps1", "psm1", "bat", "cmd", "wsf", "wsh", "hta")
	add(famArchive, "zip", "7z", "rar", "tar", "gz", "tgz", "bz2", "tbz", "tbz2", "xz", "txz", "zst", "tzst", "cab", "cpio", "lz", "iso", "arj")
	add(famOffice, "doc", "docx", "docm", "dot", "dotx", "dotm", "xls", "xlsx", "xlsm", "xlsb", "xlt", "xltx", "xltm", "xlam",
		"ppt", "pptx", "pptm", "pot", "potx", "potm", "ppam", "pps", "ppsx", "ppsm", "sldm", "odt", "ods", "odp", "odg", "rtf", "epub", "pub", "vsdx", "msg")
	add(famPDF, "pdf")
	add(famImage, "jpg", "jpeg", "jpe", "png", "gif", "bmp", "tif", "tiff", "webp", "heic", "heif", "ico", "svg", "avif")
	add(famAudio, "mp3", "wav", "ogg", "oga", "flac", "m4a", "aac", "amr")
	add(famVideo, "mp4", "m4v", "mov", "avi", "mkv", "webm", "wmv", "mpg", "mpeg", "3gp")
	add(famText, "txt", "text", "log", "csv", "tsv", "md", "htm", "html", "xml", "json", "ics", "vcf", "ini", "cfg", "yaml", "yml")
	add(famMessage, "eml")
	return m
}()

// compatible says whether content of family got may carry a label of
// family want without anything being hidden.
func compatible(got, want family) bool {
	switch {
	case got == famUnknown || want == famUnknown || got == want:
		return true
	case got == famText && (want == famScript || want == famMessage || want == famOffice || want == famImage):
		// Scripts, mail, RTF and SVG are text; only a binary under a
		// text name hides something.
		return true
	case got == famScript && want == famText:
		return true
	case got == famArchive && want == famOffice, got == famOffice && want == famArchive:
		// An Office file whose parts come in an unusual order sniffs as
		// a plain zip, and a zip may be named like a document.
		return true
	case got == famMessage && want == famText:
		return true
	}
	return false
}

// hasMacros reports whether content is an Office file carrying macros:
// an Office Open XML package with a VBA project or Excel 4 macro sheets,
// or a Compound File (.doc, .xls, .ppt, or the vbaProject.bin inside a
// package) whose directory names a VBA project. The directory check reads
// entry names, not the tree, which is all a yes or no needs.
func hasMacros(content []byte) bool {
	switch {
	case bytes.HasPrefix(content, oleMagic):
		return bytes.Contains(content, vbaProjectUTF16)
	case bytes.HasPrefix(content, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(content), int64(len(content)))
		if err != nil {
			return false
		}
		for _, f := range zr.File {
			name := strings.ToLower(f.Name)
			if path.Base(name) == "vbaproject.bin" || strings.Contains(name, "/macrosheets/") {
				return true
			}
		}
	}
	return false
}

var (
	oleMagic        = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}
	vbaProjectUTF16 = utf16le("_VBA_PROJECT")
)

func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i], 0)
	}
	return out
}
