package phishing

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func TestInlineForwards(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		wantFrom    []string // addresses of the forwarded senders, "" for a block without one
		wantSubject string   // of the first
		wantTo      int      // recipients of the first
		wantOwn     string   // the text above the first block
	}{
		{
			name:        "Gmail",
			text:        "FYI\n\n---------- Forwarded message ---------\nFrom: Shop <news@shop.example>\nDate: Mon, 1 Dec 2026 at 18:00\nSubject: Sale\nTo: <a@b.example>\n\n\nBody",
			wantFrom:    []string{"news@shop.example"},
			wantSubject: "Sale",
			wantTo:      1,
			wantOwn:     "FYI\n\n---------- Forwarded message ---------\n",
		},
		{
			name:        "Apple Mail, with Reply-To",
			text:        "Begin forwarded message:\n\nFrom: PayPal <x@gmail.com>\nSubject: Limited\nDate: 26 November 2026\nTo: lee@b.example\nReply-To: y@outlook.com\n\nDear customer",
			wantFrom:    []string{"x@gmail.com"},
			wantSubject: "Limited",
			wantTo:      1,
			wantOwn:     "Begin forwarded message:\n\n",
		},
		{
			name:        "Outlook in Portuguese with a folded list of recipients and a mailto name",
			text:        "\n________________________________\nDe: Ether [mailto:davis@icloud.com]\nEnviado: segunda-feira, 3 de abril de 2023 07:04\nPara: a@x.example <a@x.example>; b@y.example <b@y.example>;\n c@z.example <c@z.example>\nAssunto: Oi\n\nTexto",
			wantFrom:    []string{"davis@icloud.com"},
			wantSubject: "Oi",
			wantTo:      3,
			wantOwn:     "\n________________________________\n",
		},
		{
			name:     "a reply thread quoting two mails",
			text:     "Thanks!\n\nFrom: Bob <bob@b.example>\nSent: Monday\nTo: Ann <ann@a.example>\nSubject: RE: plan\n\nok\n\nFrom: Ann <ann@a.example>\nSent: Sunday\nTo: Bob <bob@b.example>\nSubject: plan\n\nhere",
			wantFrom: []string{"bob@b.example", "ann@a.example"},
			wantTo:   1, wantSubject: "RE: plan", wantOwn: "Thanks!\n\n",
		},
		{
			name:     "a colleague named without an address",
			text:     "From: Smith, John\nSent: Monday\nTo: Ann\nSubject: x\n\nbody",
			wantFrom: []string{""},
			wantOwn:  "", wantSubject: "x",
		},
		{
			name:    "prose that starts with From: is no header block",
			text:    "From: the desk of the editor\nWe have news this week.\nSubject: none",
			wantOwn: "From: the desk of the editor\nWe have news this week.\nSubject: none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &analyzers.Message{Text: tt.text}
			got := quotedIn(m).msgs
			if len(got) != len(tt.wantFrom) {
				t.Fatalf("%d forwarded messages, want %d", len(got), len(tt.wantFrom))
			}
			for i, q := range got {
				addr := ""
				if f := firstFrom(q); f != nil {
					addr = f.Address
				}
				if addr != tt.wantFrom[i] {
					t.Errorf("message %d from %q, want %q", i, addr, tt.wantFrom[i])
				}
			}
			if len(got) > 0 {
				if got[0].Header.Subject != tt.wantSubject {
					t.Errorf("subject %q, want %q", got[0].Header.Subject, tt.wantSubject)
				}
				if len(got[0].Header.To) != tt.wantTo {
					t.Errorf("%d recipients, want %d", len(got[0].Header.To), tt.wantTo)
				}
			}
			if own := ownText(m); own != tt.wantOwn {
				t.Errorf("ownText = %q, want %q", own, tt.wantOwn)
			}
		})
	}
}

// TestQuotedRecipients checks that a quoted header block without a To line
// does not pass for mail to hidden recipients, and that one quoting the
// "undisclosed-recipients:;" group does.
func TestQuotedRecipients(t *testing.T) {
	for text, want := range map[string]bool{
		"From: Ann <ann@gmail.com>\nSent: Monday\nSubject: photos\n\nhi":                               false,
		"From: Ann <ann@gmail.com>\nSent: Monday\nTo: undisclosed-recipients:;\nSubject: photos\n\nhi": true,
		"From: Ann <ann@gmail.com>\nSent: Monday\nTo: Bob <bob@b.example>\nSubject: photos\n\nhi":      false,
	} {
		q := quotedIn(&analyzers.Message{Text: text}).msgs
		if len(q) != 1 {
			t.Fatalf("%q: %d forwarded messages", text, len(q))
		}
		if got := hiddenRecipients(&q[0].Header, firstFrom(q[0])); got != want {
			t.Errorf("%q: hidden recipients %v, want %v", text, got, want)
		}
	}
}

func TestStrangeMailbox(t *testing.T) {
	for in, want := range map[[2]string]bool{
		{"Charlene Williams", "dr.ryan.roger1960@gmail.com"}: true,
		{"Kristle Harutunian", "rasezvah@gmail.com"}:         true,
		{"Lena Hofmann", "lena.hofmann84@gmail.com"}:         false,
		{"Jan Smith", "jsmith84@gmail.com"}:                  false,
		{"Jan Peter Smith", "jps1984@gmail.com"}:             false, // initials
		{"Christopher Wray", "chris.w@gmail.com"}:            false, // a name's first letters
		{"Mom", "sunnygirl77@gmail.com"}:                     false, // one word
		{"山田 太郎", "taro.y@gmail.com"}:                        false, // another script
		{"Suporte Cliente", "williamo257@gmail.com"}:         false, // an organisation's desk
		{"Agent 007", "x@gmail.com"}:                         false,
	} {
		if got := strangeMailbox(&mail.Address{Name: in[0], Address: in[1]}); got != want {
			t.Errorf("strangeMailbox(%q <%s>) = %v, want %v", in[0], in[1], got, want)
		}
	}
}

func TestLargeAmount(t *testing.T) {
	for text, want := range map[string]string{
		"withdraw your 25,371$ today":                 "25,371$",
		"a fund of US$ 8,500,000.00":                  "US$ 8,500,000.00",
		"8.5 million dollars from my late father":     "8.5 million dollars",
		"13,5 milhões de dólares":                     "13,5 milhões de dólares",
		"prize of €4.000":                             "€4.000",
		"the ticket was €45.50":                       "",
		"lunch was $12":                               "",
		"order #123456 shipped":                       "",
		"a population of 8 million people":            "",
		"call 1-800-555-0100 about your $1,200 order": "$1,200",
	} {
		if got := largeAmount(text); got != want {
			t.Errorf("largeAmount(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestMadeUpMailer(t *testing.T) {
	for x, want := range map[string]bool{
		"2":                         true,
		"6A2cY8ZOjVYHR4D1ZbWvMVkwA": true,
		"Microsoft Outlook 16.0":    false,
		"PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)": false,
		"Apple Mail (2.3774.500.171.1.1)":                          false,
		"Zimbra":                                                   false,
		"MailChimp Mailer - **CIDa1b2c3d4e5**":                     false,
	} {
		if got := madeUpMailer(x); got != want {
			t.Errorf("madeUpMailer(%q) = %v, want %v", x, got, want)
		}
	}
}

func TestHiddenRecipients(t *testing.T) {
	from := &mail.Address{Address: "a@gmail.com"}
	for raw, want := range map[string]bool{
		"To: undisclosed-recipients:;\r\n":         true,
		"To: Recipients <a@gmail.com>\r\n":         true,
		"":                                         true,
		"To: kim@mailbox.example\r\n":              false,
		"Cc: kim@mailbox.example\r\n":              false,
		"To: a@gmail.com, kim@mailbox.example\r\n": false,
	} {
		m, err := analyzers.Parse([]byte("From: a@gmail.com\r\n"+raw+"Subject: x\r\n\r\nbody"), analyzers.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := hiddenRecipients(&m.Header, from); got != want {
			t.Errorf("hiddenRecipients(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestHiddenCredential(t *testing.T) {
	for s, want := range map[string]string{
		"[1407773]: A\u073Fc\u073Fc\u073Fo\u073Fu\u073Fn\u073Ft L\u073Fo\u073Fc\u073Fk\u073Fe\u073Fd": "account lock",
		"V e r i f y your account now":      "verify your account",
		"Your 𝗮𝗰𝗰𝗼𝘂𝗻𝘁 is 𝘀𝘂𝘀𝗽𝗲𝗻𝗱𝗲𝗱":         "account is suspend",
		"𝗪𝗶𝗻𝘁𝗲𝗿 𝘀𝗮𝗹𝗲: 30% off everything":   "",
		"Pontos Livelo\u200b viram viagens": "",
	} {
		if got := hiddenCredential(s); got != want {
			t.Errorf("hiddenCredential(%q) = %q, want %q", s, got, want)
		}
	}
}

// FuzzInlineForwards checks the quoted-header reader on any text: it
// never panics, returns at most what it is asked for, and the text it
// calls the sender's own is the start of the text.
func FuzzInlineForwards(f *testing.F) {
	for _, s := range []string{
		"FYI\n\n---------- Forwarded message ---------\nFrom: Shop <news@shop.example>\nDate: Mon\nSubject: Sale\nTo: <a@b.example>\n\nBody",
		"De: Ether [mailto:d@icloud.com]\nEnviado: hoje\nPara: a@x.example;\n b@y.example\nAssunto: Oi\n\nTexto",
		"From: a\nFrom: b@c.example\nTo:\nSubject:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := quotedBlocks(s, 2)
		if len(got) > 2 {
			t.Fatalf("%d messages, asked for 2", len(got))
		}
		if own := ownText(&analyzers.Message{Text: s}); !strings.HasPrefix(s, own) {
			t.Fatalf("ownText %q is not the start of %q", own, s)
		}
	})
}
