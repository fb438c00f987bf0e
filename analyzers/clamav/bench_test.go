package clamav

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
	"github.com/mailsift/mailsift/analyzers/attachments"
)

// benchMessages builds n parsed messages with attachments, the mix a
// support mailbox sees: PDFs, zipped logs, Office documents, images,
// tarballs, and now and then the EICAR file. Every file differs, since
// clamd caches the hashes of clean files and a repeated file would
// measure its cache.
func benchMessages(b *testing.B, n int) []*analyzers.Message {
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(size int, tag string) []byte {
		var buf bytes.Buffer
		words := []string{"order", "refund", "shipping", "invoice", "lantern", "jacket", "checkout", "timeout", "upstream", "customer"}
		fmt.Fprintf(&buf, "%s\n", tag)
		for buf.Len() < size {
			fmt.Fprintf(&buf, "%s %d ", words[rng.IntN(len(words))], rng.IntN(100000))
		}
		return buf.Bytes()
	}
	random := func(size int) []byte {
		out := make([]byte, size)
		for i := range out {
			out[i] = byte(rng.Uint32())
		}
		return out
	}
	out := make([]*analyzers.Message, 0, n)
	for i := range n {
		tag := fmt.Sprintf("message %d", i)
		var name, ctype string
		var content []byte
		switch {
		case i%100 == 99:
			name, ctype, content = "eicar.com", "application/octet-stream", archivetest.EICAR()
		case i%10 < 4:
			name, ctype = "invoice.pdf", "application/pdf"
			content = append([]byte("%PDF-1.4\n"), text(30<<10, tag)...)
		case i%10 < 6:
			name, ctype = "logs.zip", "application/zip"
			content = archivetest.Zip(
				archivetest.Entry{Name: "app.log", Content: text(12<<10, tag)},
				archivetest.Entry{Name: "err.log", Content: text(4<<10, tag)},
				archivetest.Entry{Name: "env.txt", Content: text(2<<10, tag)})
		case i%10 < 8:
			name, ctype = "contract.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
			content = archivetest.Zip(
				archivetest.Entry{Name: "[Content_Types].xml", Content: []byte(`<Types/>`)},
				archivetest.Entry{Name: "word/document.xml", Content: text(20<<10, tag)})
		case i%10 < 9:
			name, ctype = "photo.jpg", "image/jpeg"
			content = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), random(50<<10)...)
		default:
			name, ctype = "logs.tar.gz", "application/gzip"
			content = archivetest.Gzip("", archivetest.Tar(archivetest.Entry{Name: "app.log", Content: text(40<<10, tag)}))
		}
		raw := fmt.Sprintf("From: c%d@customer.example\r\nTo: support@brightlane.example\r\nSubject: %s\r\n"+
			"Date: Fri, 20 Nov 2026 09:00:00 +0000\r\nMessage-ID: <b%d@customer.example>\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlease see the attached file.\r\n"+
			"--b\r\nContent-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
			i, tag, i, ctype, name, name, encodeBase64(content))
		m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// BenchmarkAttachmentsAndClamAV runs the attachments and clamav analyzers
// over 1,000 messages with attachments, two at a time (the machine has two
// cores), against the real clamd of TestMain. It reports messages per
// second and the share of the analyzers' time spent in clamav (which is
// waiting on clamd), and clamd's own CPU time.
func BenchmarkAttachmentsAndClamAV(b *testing.B) {
	const n = 1000
	msgs := benchMessages(b, n)
	att, err := attachments.New(attachments.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Address = "unix://" + daemon.Socket
	av, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var attNanos, avNanos atomic.Int64
	var malicious atomic.Int32
	cpuBefore, err := daemon.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		next := make(chan *analyzers.Message)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range next {
					t0 := time.Now()
					ra, _ := analyzers.Run(ctx, att, m)
					t1 := time.Now()
					rc, err := analyzers.Run(ctx, av, m)
					t2 := time.Now()
					if err != nil {
						b.Error(err)
						return
					}
					attNanos.Add(int64(t1.Sub(t0)))
					avNanos.Add(int64(t2.Sub(t1)))
					if rc.Verdict == analyzers.VerdictMalicious && ra.Verdict == analyzers.VerdictMalicious {
						malicious.Add(1)
					}
				}
			}()
		}
		for _, m := range msgs {
			next <- m
		}
		close(next)
		wg.Wait()
	}
	wall := time.Since(start)
	b.StopTimer()
	cpuAfter, _ := daemon.CPUTime()
	if got := int(malicious.Load()); got != b.N*n/100 {
		b.Errorf("%d messages malicious by both analyzers, want %d (the EICAR ones)", got, b.N*n/100)
	}
	total := float64(attNanos.Load() + avNanos.Load())
	b.ReportMetric(float64(b.N*n)/wall.Seconds(), "msgs/s")
	b.ReportMetric(float64(avNanos.Load())/total*100, "%clamav")
	b.ReportMetric(float64(attNanos.Load())/float64(b.N*n)/1e3, "µs-attachments/msg")
	b.ReportMetric(float64(avNanos.Load())/float64(b.N*n)/1e3, "µs-clamav/msg")
	b.ReportMetric(float64(cpuAfter-cpuBefore)/float64(b.N*n)/1e3, "µs-clamd-cpu/msg")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d messages in %v; attachments %v, clamav %v (summed over 2 workers); clamd CPU %v",
		b.N*n, wall.Round(time.Millisecond), time.Duration(attNanos.Load()).Round(time.Millisecond),
		time.Duration(avNanos.Load()).Round(time.Millisecond), (cpuAfter - cpuBefore).Round(time.Millisecond))
}
