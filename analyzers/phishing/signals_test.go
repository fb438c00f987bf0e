package phishing

import (
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func TestValidMailDomain(t *testing.T) {
	tests := []struct {
		d    string
		want bool
	}{
		{"example.com", true},
		{"mail.shop.example", true}, // reserved for documentation
		{"blkpoohba.dyndns.org", true},
		{"xn--pypal-4ve.com", true},
		{"0mw89", false},
		{"%pagamentos.com", false},
		{"hd8g42jmuq33.com'", false},
		{"shein-survey-free,net", false},
		{"huhbhjijn.localdomain", false},
		{"host.nosuchtld", false},
		{"-bad.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validMailDomain(tt.d); got != tt.want {
			t.Errorf("validMailDomain(%q) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestMachineMade(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"hd8g42jmuq33", true},
		{"kgm5xwql99vk", true},
		{"o1su91b", true},
		{"fWscatuD", true},
		{"office365", false},
		{"web2print", false},
		{"john.smith1985", false},
		{"McDonald", false},
		{"JohnSmith", false},
		{"noreply", false},
		{"3f2a1", false}, // too short to tell
	}
	for _, tt := range tests {
		if got := machineMade(tt.s); got != tt.want {
			t.Errorf("machineMade(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestEmbedsIP(t *testing.T) {
	for host, want := range map[string]bool{
		"eywouzrc.20.196.139.106.static.example.name": true,
		"ec2-54-1-2-3.compute.example":                true,
		"cdn.example.com":                             false,
		"v1.2.3.example.com":                          false,
		"300.1.2.3.example":                           false,
	} {
		if got := embedsIP(host); got != want {
			t.Errorf("embedsIP(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHiddenMarks(t *testing.T) {
	for s, want := range map[string]bool{
		"A\u073Fc\u073Fc\u073Fo\u073Fu\u073Fn\u073Ft Locked": true,  // Syriac marks on Latin letters
		"Pontos Livelo\u200b viram viagens":                  true,  // zero-width space after a letter
		"Cafe\u0301 ouvert":                                  false, // an accent as a combining mark
		"Family 👨\u200d👩\u200d👧":                             false, // emoji joined by ZWJ
		"Plain subject":                                      false,
		"I\U000E0139\U000E0139RS Ta\U000E0139x Office":       true,  // variation selectors of the supplement
		"Bonjour \U0001F3F4\U000E0067\U000E0062\U000E007F":   false, // a flag spelled with tag characters
		"Heart \u2764\uFE0F":                                 false, // an emoji's variation selector
	} {
		if got := hiddenMarks(s); got != want {
			t.Errorf("hiddenMarks(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDisguisedBrand(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	for s, want := range map[string]string{
		"Notification about your PayPaI Iimited account": "PayPaI",
		"Your PAYPAL receipt":                            "",
		"Microsoft account unusual sign-in activity":     "",
		"Rnicrosoft notice":                              "Rnicrosoft",
	} {
		if got := a.disguisedBrand(s); got != want {
			t.Errorf("disguisedBrand(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestBrandInNameCommonWords(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	for name, want := range map[string]string{
		"The Quiet Ledger":  "",
		"Ledger Support":    "Ledger",
		"Meta for Business": "Facebook", // Meta is one of the brand's names
		"Apple":             "Apple",
		"PayPal Service":    "PayPal",
	} {
		got := ""
		if b := a.brandInName(name); b != nil {
			got = b.name
		}
		if got != want {
			t.Errorf("brandInName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestSignals runs whole messages through the analyzer for the symbols
// of scam wording and sender infrastructure, each with a message that
// must carry it and, where the difference is fine, one that must not.
func TestSignals(t *testing.T) {
	const hdr = "To: kim@mailbox.example\r\nDate: 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t@x.example>\r\n"
	html := func(from, subject, body string, extra ...string) string {
		return "From: " + from + "\r\n" + hdr + strings.Join(extra, "") + "Subject: " + subject +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
	}
	text := func(from, subject, body string, extra ...string) string {
		return "From: " + from + "\r\n" + hdr + strings.Join(extra, "") + "Subject: " + subject +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
	}
	tests := []struct {
		name     string
		raw      string
		want     []string
		notWant  []string
		minScore float64
	}{
		{
			name: "advance-fee letter from freemail, reply to another mailbox",
			raw: text("Joline <joline14@gmail.example>", "greetings",
				"I inherited 8.5 million dollars from my late father. You will be the beneficiary and receive 45% of the total fund after the transfer of the fund.",
				"Reply-To: joline13@gmail.com\r\n"),
			want: []string{ScamWords},
		},
		{
			name:    "one scam word alone is everyday language",
			raw:     text("Pension office <info@pension.example>", "Your pension", "Please name a beneficiary for your pension account."),
			notWant: []string{ScamWords},
		},
		{
			name:    "crypto words in a file name and an underscored subject",
			raw:     "From: Kristle <k@mail.example>\r\n" + hdr + "Subject: Your_transfer_0.74_BTC\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nwithdraw your money\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Your.Mining.balance.pdf\"\r\n\r\n%PDF-1.4\r\n--b--\r\n",
			want:    []string{ScamWords},
			notWant: []string{LureWords},
		},
		{
			name: "pressure and lure with a link off the sender's domain",
			raw:  html("Shop <news@shop.example>", "Last chance", `<p>Congratulations, you have won a gift card! Claim it within 24 hours.</p><a href="https://claim.other.example/x">Claim</a>`),
			want: []string{Pressure, LureWords},
		},
		{
			name:    "pressure without links off the sender's domain",
			raw:     html("Air <noreply@air.example>", "Check in", `<p>Check in within 24 hours.</p><a href="https://www.air.example/checkin">Check in</a>`),
			notWant: []string{Pressure},
		},
		{
			name: "malformed sender domain and bounce host",
			raw:  html("Receita <alerta@regularizacao972139>", "Aviso", `<p>x</p>`, "Return-Path: <root@box.localdomain>\r\n"),
			want: []string{FromMalformed},
		},
		{
			name:    "an internal host of the recipient's own domain",
			raw:     text("scanner@printer.mailbox.example", "Scan", "scanned"),
			notWant: []string{FromMalformed},
		},
		{
			name: "machine-made sender on an abused TLD, hot-linked and IP images, bulk without List-Unsubscribe",
			raw:  html("Deals <kgm5xwql99vk@offers.example.shop>", "Sale", `<img src="https://i.imgur.com/a.png"><img src="http://203.0.113.9/track/1"><a href="https://x.example.click/a">Buy</a> <a href="https://x.example.click/u">Unsubscribe</a>`),
			want: []string{FromRandom, AbusedTLD, ImageHosting, ImageIP, BulkNoUnsubscribe},
		},
		{
			name:    "a newsletter with List-Unsubscribe",
			raw:     html("News <news@shop.example>", "News", `<a href="https://shop.example/u">Unsubscribe</a>`, "List-Unsubscribe: <https://shop.example/u>\r\n"),
			notWant: []string{BulkNoUnsubscribe},
		},
		{
			name: "sender on a hosting service and dynamic DNS",
			raw:  html("Casino <noreply@yander6-86008.firebaseapp.com>", "Bonus", `<p>x</p>`, "Return-Path: <a@infracc24.ddns.net>\r\n"),
			want: []string{SenderHosted},
		},
		{
			name: "organisation's desk on freemail, emoji name",
			raw:  text("\"Suporte Cliente 💳\" <williamo257@gmail.com>", "Aviso", "Ola"),
			want: []string{FreemailOrg, EmojiName},
		},
		{
			name: "a state institution on freemail",
			raw:  text("\"United Nations Compensation Office\" <un.payments.desk@gmail.com>", "Your payment", "Dear beneficiary"),
			want: []string{FreemailOrg},
		},
		{
			name:    "a person on freemail",
			raw:     text("Lena Hofmann <lena.hofmann84@gmail.com>", "Fotos", "Hallo"),
			notWant: []string{FreemailOrg, FromRandom},
		},
		{
			name: "call-back scam",
			raw:  text("Billing <billing.dept77@gmail.com>", "Invoice", "Your subscription renewal of $399 was charged today. If you did not make this purchase, call +1 (808) 555-0147 to cancel."),
			want: []string{Callback},
		},
		{
			name: "call-back scam without a link, asking to contact a support team",
			raw:  text("Tracy More <np321026@zimberg.example>", "Renewal Notice", "A payment of USD559.00 will be processed today for your membership renewal. Should you need to make any changes, please contact our Support Team at 1 (859) 402-7270."),
			want: []string{Callback},
		},
		{
			name:    "a receipt with links that gives its support number",
			raw:     html("Shop <orders@shop.example>", "Your order", `<p>Thank you for your order. Questions? Contact our support team at 0800 123 4567.</p><a href="https://www.shop.example/orders/1">View order</a>`),
			notWant: []string{Callback},
		},
		{
			name: "archive with its password",
			raw:  "From: a@b.example\r\n" + hdr + "Subject: Boleta\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAdjunto. SU CONTRASENA PERSONAL {0808}\r\n--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"Foto.zip\"\r\n\r\nPK\x03\x04\r\n--b--\r\n",
			want: []string{ArchivePassword},
		},
		{
			name: "a link in a recipient's name",
			raw:  "From: hi@shop.example\r\nTo: \"You have a new transaction. Verify transfer705.pages.dev/e\" <kim@mailbox.example>\r\nSubject: Hi\r\n\r\nhello",
			want: []string{RecipientNameLink},
		},
		{
			name:    "a bounce quoting an IP address",
			raw:     "From: MAILER-DAEMON@mx.mailbox.example\r\nTo: kim@mailbox.example\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nhost said: see http://203.0.113.25/postmaster\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--r--\r\n",
			notWant: []string{LinkIP},
		},
		{
			// The returned message is the reader's own, not a forward to judge.
			name: "a bounce returning a message whose sender would count",
			raw: "From: MAILER-DAEMON@mx.mailbox.example\r\nTo: kim@mailbox.example\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--r\r\nContent-Type: message/rfc822\r\n\r\n" +
				"From: \"PayPal Support\" <kim.smith77@gmail.com>\r\nTo: lee@other.example\r\nSubject: hi\r\n\r\nhello\r\n--r--\r\n",
			notWant: []string{Forwarded, DisplayNameBrand},
		},
		{
			name:    "a stranger on freemail writing about a fortune to a named recipient",
			raw:     text("Kristle <rasezvah@gmail.com>", "Your transfer", "The main thing is to have time to withdraw your 25,371$", "Reply-To: k.h@outlook.com\r\n"),
			want:    []string{MoneyFreemail},
			notWant: []string{FreemailUndisclosed},
		},
		{
			name: "freemail to undisclosed recipients",
			raw:  strings.Replace(text("Cato <seeronero663@gmail.com>", "Withdrawal error", "see the file"), "To: kim@mailbox.example", "To: undisclosed-recipients:;", 1),
			want: []string{FreemailUndisclosed},
		},
		{
			name:    "a company's price list is no freemail fortune",
			raw:     text("Sales <sales@shop.example>", "Quote", "The machine costs €12,500 plus VAT."),
			notWant: []string{MoneyFreemail},
		},
		{
			name: "a crowd of recipients on many domains",
			raw: "From: Ether <d@icloud.com>\r\nTo: " + func() string {
				var l []string
				for _, d := range strings.Fields("a b c d e f g h i j k l m n o p q r s t u v") {
					l = append(l, "x@"+d+".example")
				}
				return strings.Join(l, ", ")
			}() + "\r\nSubject: hi\r\n\r\nhello",
			want: []string{RecipientMass},
		},
		{
			name: "an alternative with one body, a made-up X-Mailer, the address in a tracker",
			raw: "From: Planos <renata@e.planos.example>\r\n" + hdr + "X-Mailer: 6A2cY8ZOjVYHR4D1ZbWvMVkwA\r\nSubject: Cotacao\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n" +
				`<a href="http://trk.other.example/?s1=kim@mailbox.example">Clique</a>` + "\r\n--b--\r\n",
			want: []string{AltOne, MailerMadeUp, LinkRecipient},
		},
		{
			name: "plain and HTML alternatives telling different stories",
			raw: "From: Clinic <fs@host.example>\r\n" + hdr + "Subject: Report\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
				"A new document is now available in your patient portal. To view it please log into the portal using the link below and select the contact section of the practice website today\r\n" +
				"--b\r\nContent-Type: text/html\r\n\r\n<p>Action required: our records show undeclared cryptocurrency gains which may be liable for taxation; contact us to generate a free tax report through our partner or face penalties and prosecution</p>\r\n--b--\r\n",
			want: []string{AltMismatch},
		},
		{
			name: "alternatives that say the same",
			raw: "From: News <n@shop.example>\r\n" + hdr + "Subject: News\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
				"Our winter collection is here: warm coats, wool scarves and boots for every weather, with free delivery on orders over fifty euros until Sunday evening\r\n" +
				"--b\r\nContent-Type: text/html\r\n\r\n<p>Our <b>winter collection</b> is here: warm coats, wool scarves and boots for every weather, with free delivery on orders over fifty euros until Sunday evening</p>\r\n--b--\r\n",
			notWant: []string{AltMismatch, AltOne},
		},
		{
			name: "a quoted encoded-word display name with invisible characters",
			raw:  "From: \"=?UTF-8?B?SfOghLnzoIS5UlMgVGHzoIS586CEuXggT2bzoIS586CEuWbzoIS586CEuWlj?= =?UTF-8?B?ZQ==?=\" <fs@cor1.host.example>\r\n" + hdr + "Subject: Tax\r\n\r\nhello",
			want: []string{DisplayNameBrand, ObfuscatedHeader},
		},
		{
			name:    "a List-Unsubscribe without an address is no list, and its host on an abused TLD counts",
			raw:     html("Europa Park <x@mail.toom.example>", "Karten", `<a href="http://t.other.example/a">Adresse bestätigen</a> Sie können sich jederzeit abmelden.`, "List-Unsubscribe: <SPQUHKVURDKSCQ8AU9KYO1L@mail.toom.example>\r\n"),
			want:    []string{BulkNoUnsubscribe},
			notWant: []string{AbusedTLD},
		},
		{
			name: "a List-Unsubscribe mailbox on an abused TLD",
			raw:  html("Noelia <contact@shop.example>", "Hoi", `<a href="http://trk.example/a">Klik</a>`, "List-Unsubscribe: <mailto:mail@creativeforu.cam?subject=unsubscribe>\r\n"),
			want: []string{AbusedTLD},
		},
	}
	a := mustNew(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := analyzers.Parse([]byte(tt.raw), analyzers.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := analyzers.Run(t.Context(), a, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.want {
				if !hasSymbol(r, s) {
					t.Errorf("no %s; symbols %v", s, r.Symbols)
				}
			}
			for _, s := range tt.notWant {
				if hasSymbol(r, s) {
					t.Errorf("unwanted %s (%s); symbols %v", s, symbolOptions(r, s), r.Symbols)
				}
			}
		})
	}
}

func TestScamWordsScore(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	raw := "From: x@mail.example\r\nTo: kim@mailbox.example\r\nSubject: fund\r\n\r\n" +
		"Next of kin. You are the beneficiary of an inheritance from my late husband, 8.5 million dollars, via Western Union."
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyzers.Run(t.Context(), a, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Symbols {
		if s.Name == ScamWords {
			if s.Score != defaultScores[ScamWords]+2 {
				t.Errorf("score %v with %d kinds, want the most, %v", s.Score, len(s.Options), defaultScores[ScamWords]+2)
			}
			return
		}
	}
	t.Errorf("no %s; symbols %v", ScamWords, r.Symbols)
}

// TestForwardedMarked checks that what is found in a forwarded message is
// marked as such, and that the carrier's own clean sender adds nothing.
func TestForwardedMarked(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	r := analyze(t, a, "testdata/phish/p17-forwarded-inline-brand.eml")
	if got := symbolOptions(r, Forwarded); got != "from=service.center.support99@gmail.com" {
		t.Errorf("%s options %q", Forwarded, got)
	}
	for _, sym := range []string{DisplayNameBrand, ReplyToFreemail} {
		opts := symbolOptions(r, sym)
		if opts == "" || !strings.HasPrefix(opts, "forwarded: ") {
			t.Errorf("%s options %q, want them marked forwarded", sym, opts)
		}
	}
}
