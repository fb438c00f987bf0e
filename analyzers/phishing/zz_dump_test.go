package phishing

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func TestZZDump(t *testing.T) {
	for _, p := range strings.Fields(os.Getenv("DUMP")) {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("===== %s\n", p)
		for _, k := range []string{"From", "Reply-To", "Return-Path", "Subject", "To", "Message-ID", "X-Mailer", "List-Unsubscribe", "Content-Type"} {
			for _, v := range m.Header.Values(k) {
				fmt.Printf("%s: %.200s\n", k, v)
			}
		}
		for _, v := range m.Header.Values("Authentication-Results") {
			fmt.Printf("AR: %.300s\n", v)
		}
		txt := m.Text
		if m.HTML != "" {
			txt += "\n--html--\n" + analyzers.HTMLText(m.HTML)
		}
		txt = strings.Join(strings.Fields(txt), " ")
		n := 500
		if len(txt) < n {
			n = len(txt)
		}
		fmt.Printf("TEXT(%d chars, html %d): %s\n", len(txt), len(m.HTML), txt[:n])
		for i, l := range m.Links {
			if i > 5 {
				fmt.Printf("  ... %d links\n", len(m.Links))
				break
			}
			fmt.Printf("  link %s %.120s | %.60s\n", l.Kind, l.URL, l.Text)
		}
		for _, a := range m.Attachments {
			fmt.Printf("  attachment %s %s %d\n", a.Filename, a.ContentType, len(a.Content))
		}
	}
}
