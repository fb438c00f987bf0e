// Command genmodel builds the language analyzer's embedded model from the
// n-gram tables of lingua-go (Apache-2.0, trained on the Leipzig corpora).
// It reads the module's uni-, bi- and trigram files straight from the zip
// and protobuf wire format, so mailsift itself does not depend on lingua
// and carries only the three small tables of the languages it detects.
//
//	go run ./analyzers/language/internal/genmodel \
//	  -lingua "$(go env GOMODCACHE)/github.com/pemistahl/lingua-go@v1.4.0" \
//	  -o analyzers/language/model.bin.gz
package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// languages are the ISO 639-1 codes of the model, in the order of their
// index in the postings. Chinese, Japanese and Korean are told apart by
// script, so they need no n-grams.
var languages = []string{
	"en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "cs", "hu",
	"ro", "el", "ru", "uk", "tr", "ar", "he", "fa", "hi", "vi", "id",
	"sk", "sl", "hr", "bg", "ca", "et", "lv", "lt", "ms",
}

var orders = []string{"unigrams", "bigrams", "trigrams"}

type posting struct {
	lang int
	cost uint16
}

func main() {
	lingua := flag.String("lingua", "", "lingua-go module directory")
	out := flag.String("o", "model.bin.gz", "output file")
	flag.Parse()
	if *lingua == "" {
		log.Fatal("-lingua is required")
	}
	var buf bytes.Buffer
	buf.WriteString("MSLANG1\n")
	putUvarint(&buf, uint64(len(languages)))
	for _, l := range languages {
		putString(&buf, l)
	}
	for _, order := range orders {
		table := map[string][]posting{}
		for li, l := range languages {
			p := filepath.Join(*lingua, "language-models", l, order+".pb.bin.zip")
			probs, err := readModel(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a language with a script of its own has unigrams only
			}
			if err != nil {
				log.Fatal(err)
			}
			for ng, pr := range probs {
				c := math.Round(-math.Log(pr) * 100)
				if c > math.MaxUint16 {
					c = math.MaxUint16
				}
				table[ng] = append(table[ng], posting{li, uint16(c)})
			}
		}
		keys := make([]string, 0, len(table))
		for k := range table {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		putUvarint(&buf, uint64(len(keys)))
		for _, k := range keys {
			putString(&buf, k)
			ps := table[k]
			putUvarint(&buf, uint64(len(ps)))
			for _, p := range ps {
				buf.WriteByte(byte(p.lang))
				buf.Write(binary.LittleEndian.AppendUint16(nil, p.cost))
			}
		}
		fmt.Fprintf(os.Stderr, "%s: %d n-grams\n", order, len(keys))
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if _, err := zw.Write(buf.Bytes()); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// readModel returns n-gram probabilities from one of lingua's zipped
// SerializableLanguageModel messages.
func readModel(path string) (map[string]float64, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	if len(zr.File) != 1 {
		return nil, fmt.Errorf("%s: %d files in zip, want 1", path, len(zr.File))
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: %w", path, protowire.ParseError(n))
		}
		b = b[n:]
		if num != 4 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%s: %w", path, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		set, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%s: %w", path, protowire.ParseError(n))
		}
		b = b[n:]
		if err := readSet(set, out); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}

func readSet(b []byte, out map[string]float64) error {
	var prob float64
	var ngrams []string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			prob = math.Float64frombits(v)
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			ngrams = append(ngrams, string(v))
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	for _, ng := range ngrams {
		out[ng] = prob
	}
	return nil
}

func putUvarint(w *bytes.Buffer, v uint64) { w.Write(binary.AppendUvarint(nil, v)) }

func putString(w *bytes.Buffer, s string) {
	putUvarint(w, uint64(len(s)))
	w.WriteString(s)
}
