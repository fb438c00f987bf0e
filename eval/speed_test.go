package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/keywords"
	"github.com/mailsift/mailsift/analyzers/language"
	"github.com/mailsift/mailsift/analyzers/sentiment"
)

// typicalMail is a 5 KB support mail: a complaint of a few paragraphs, a
// signature, and the quoted thread below it.
func typicalMail() *analyzers.Message {
	var sb strings.Builder
	sb.WriteString("Hello,\n\n")
	paras := []string{
		"I ordered the Ridgeline 45L backpack three weeks ago (order BL-104233) and it still has not arrived. The tracking page shows no update since last Monday and nobody answers the phone.",
		"I am really disappointed, because I need the backpack for a trip next week. Your website promised delivery within two business days, which was clearly not true.",
		"Please send it today by express, or cancel the order and refund my money to the card I paid with. I do not want store credit or a voucher.",
		"If I do not hear back by Friday I will file a complaint with my bank and leave a review. I have been a customer for years and this is the first time something like this happens.",
	}
	for sb.Len() < 3000 {
		for _, p := range paras {
			sb.WriteString(p + "\n\n")
		}
	}
	sb.WriteString("Best regards,\nDana Whitfield\n+44 20 7946 0000\n\n")
	sb.WriteString("On Tue, 3 Nov 2026 at 10:02, Brightlane Support <support@brightlane.example> wrote:\n")
	for sb.Len() < 5000 {
		sb.WriteString("> Thank you for your order! It is being prepared and will ship within 2 business days.\n")
	}
	return &analyzers.Message{Text: sb.String(), Mailbox: "support", Header: analyzers.Header{Subject: "Re: Where is my backpack?"}}
}

// BenchmarkTextAnalyzers runs the three local text analyzers one after the
// other on a typical 5 KB support mail, as one worker core would: the
// goal is 1,000 mails a second, 1 ms each. Each mail is a new Message, so
// nothing derived is carried over from one to the next: "shared" gives
// the three analyzers one Message, as a worker's parse cache does, so the
// extraction and the language detection are done once; "apart" gives each
// its own, as if every analyzer ran in its own process.
func BenchmarkTextAnalyzers(b *testing.B) {
	ctx := context.Background()
	s, err := sentiment.New(sentiment.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	k, err := keywords.New(keywords.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	if err := k.Attach(ctx, analyzers.NewMemoryState()); err != nil {
		b.Fatal(err)
	}
	l, err := language.New(language.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	m := typicalMail()
	fresh := func() *analyzers.Message {
		return &analyzers.Message{Text: m.Text, Mailbox: m.Mailbox, Header: m.Header}
	}
	as := []analyzers.Analyzer{s, k, l}
	for _, shared := range []bool{true, false} {
		name := "shared"
		if !shared {
			name = "apart"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(m.Text)))
			for b.Loop() {
				mm := fresh()
				for _, a := range as {
					if !shared {
						mm = fresh()
					}
					if _, err := a.Analyze(ctx, mm); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
		})
	}
}
