package text

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mailsift/mailsift/analyzers"
)

func TestFromPlain(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      string
		quoted    bool
		signature bool
	}{
		{"nothing to cut", "Where is my order?\nIt is late.", "Where is my order?\nIt is late.", false, false},
		{"english reply header", "Still broken.\n\nOn Tue, 3 Nov 2026 at 10:02, Support <s@x.example> wrote:\n> Have you tried turning it off?\n", "Still broken.", true, false},
		{"reply header wrapped", "Fine, thanks.\n\nOn Tue, 3 Nov 2026 at 10:02, Brightlane Support\n<support@brightlane.example> wrote:\n> We shipped it.\n", "Fine, thanks.", true, false},
		{"german reply header", "Das hilft nicht.\n\nAm 03.11.2026 um 10:02 schrieb Support <s@x.example>:\n> Bitte neu starten.", "Das hilft nicht.", true, false},
		{"french reply header", "Toujours rien.\n\nLe mar. 3 nov. 2026 à 10:02, Support <s@x.example> a écrit :\n> Merci de patienter.", "Toujours rien.", true, false},
		{"spanish reply header", "Sigue sin llegar.\n\nEl mar, 3 nov 2026 a las 10:02, Soporte (<s@x.example>) escribió:\n> Gracias por esperar.", "Sigue sin llegar.", true, false},
		{"outlook block", "Please refund me.\n\nFrom: Support <s@x.example>\nSent: Tuesday, November 3, 2026 10:02 AM\nTo: Ana\nSubject: RE: order\n\nWe are happy to help!", "Please refund me.", true, false},
		{"outlook block german", "Bitte erstatten.\n\nVon: Support <s@x.example>\nGesendet: Dienstag, 3. November 2026 10:02\nAn: Ana\nBetreff: AW: Bestellung\n\nGerne!", "Bitte erstatten.", true, false},
		{"outlook block french", "Remboursez-moi.\n\nDe : Support <s@x.example>\nEnvoyé : mardi 3 novembre 2026 10:02\nÀ : Ana\nObjet : RE: commande", "Remboursez-moi.", true, false},
		{"outlook block spanish", "Devuélvanme el dinero.\n\nDe: Soporte <s@x.example>\nEnviado: martes, 3 de noviembre de 2026 10:02\nPara: Ana\nAsunto: RE: pedido", "Devuélvanme el dinero.", true, false},
		{"forwarded", "See below.\n\n---------- Forwarded message ---------\nFrom: A <a@x.example>\nDate: Mon\n\nI love it!", "See below.", true, false},
		{"original message de", "Siehe unten.\n\n-----Ursprüngliche Nachricht-----\nVon: A\n\nSuper!", "Siehe unten.", true, false},
		{"inline quotes", "> Did it arrive?\nNo, it did not.\n> Which size?\nLarge.", "No, it did not.\nLarge.", true, false},
		{"signature dashes", "It broke.\n\n-- \nAna Lima\nACME Ltd | +1 555 0100", "It broke.", false, true},
		{"sent from phone", "Where is it?\n\nSent from my iPhone", "Where is it?", false, true},
		{"sent from phone german", "Wo ist es?\n\nVon meinem iPhone gesendet", "Wo ist es?", false, true},
		{"sign-off english", "The zipper broke after a week.\n\nBest regards,\nAna Lima\nACME Ltd", "The zipper broke after a week.", false, true},
		{"sign-off german", "Der Reißverschluss ist kaputt.\n\nMit freundlichen Grüßen\nAna Lima", "Der Reißverschluss ist kaputt.", false, true},
		{"sign-off french", "La fermeture est cassée.\n\nCordialement,\nAna Lima", "La fermeture est cassée.", false, true},
		{"sign-off spanish", "La cremallera se rompió.\n\nSaludos cordiales,\nAna Lima", "La cremallera se rompió.", false, true},
		{"thanks followed by prose is kept", "Thanks,\n\nthe parcel arrived but the box was open and two items are missing, the lantern and the stove, which I had ordered for a trip next week.", "Thanks,\n\nthe parcel arrived but the box was open and two items are missing, the lantern and the stove, which I had ordered for a trip next week.", false, false},
		{"disclaimer", "Please call me.\n\nThis email and any attachments are confidential and intended solely for the addressee.", "Please call me.", false, true},
		{"disclaimer german", "Bitte rufen Sie an.\n\nDiese E-Mail enthält vertrauliche Informationen.", "Bitte rufen Sie an.", false, true},
		{"disclaimer after a sentence, capitals", "Please call me.\n\nSent by the office. THIS MESSAGE IS CONFIDENTIAL and meant for the addressee only.", "Please call me.", false, true},
		{"disclaimer words in prose are kept", "The app shows an error: this message is what I see every time, and if you are not sure, call me.", "The app shows an error: this message is what I see every time, and if you are not sure, call me.", false, false},
		{"reply header in capitals", "Still broken.\n\nON TUE, 3 NOV 2026, ANA <A@X.EXAMPLE> WROTE:\n> old", "Still broken.", true, false},
		{"colon line that is no reply header", "Here is what I did:\nrestarted it twice.", "Here is what I did:\nrestarted it twice.", false, false},
		{"crlf", "Line one.\r\n\r\nOn Mon, 2 Nov 2026, X wrote:\r\n> old\r\n", "Line one.", true, false},
		{"empty", "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := FromPlain(tt.body)
			if e.Text != tt.want {
				t.Errorf("text = %q, want %q", e.Text, tt.want)
			}
			if (e.Quoted > 0) != tt.quoted || (e.Signature > 0) != tt.signature {
				t.Errorf("quoted %d signature %d, want quoted %v signature %v", e.Quoted, e.Signature, tt.quoted, tt.signature)
			}
			if e.Source != SourcePlain {
				t.Errorf("source = %q", e.Source)
			}
			if s := e.Summary(); s.Chars+s.QuotedChars+s.SignatureChars > s.BodyChars+1 {
				t.Errorf("summary does not add up: %+v", s)
			}
		})
	}
}

func TestFromHTML(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   string
		quoted bool
	}{
		{"paragraphs", "<html><head><title>x</title><style>p{}</style></head><body><p>Hello <b>there</b>,</p><p>it broke.</p></body></html>", "Hello there,\nit broke.", false},
		{"hidden preheader", `<div style="display: none">Save 40% today</div><p>Where is my order?</p>`, "Where is my order?", false},
		{"script", `<p>Hi</p><script>alert("x")</script><p>Bye now</p>`, "Hi\nBye now", false},
		{"gmail quote", `<div>Still waiting.</div><div class="gmail_quote"><div>On Mon X wrote:</div><blockquote>We shipped it!</blockquote></div>`, "Still waiting.", true},
		{"outlook reply", `<p>No.</p><div id="divRplyFwdMsg"><b>From:</b> Support</div><div>Old text</div>`, "No.", true},
		{"blockquote cite", `<p>Yes</p><blockquote type="cite">Did you get it?</blockquote>`, "Yes", true},
		{"unclosed tags", `<div><p>One<p>Two`, "One\nTwo", false},
		{"br", `Line one<br>Line two`, "Line one\nLine two", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := FromHTML(tt.body)
			if e.Text != tt.want {
				t.Errorf("text = %q, want %q", e.Text, tt.want)
			}
			if (e.Quoted > 0) != tt.quoted {
				t.Errorf("quoted = %d, want quoted %v", e.Quoted, tt.quoted)
			}
		})
	}
}

// TestSamples pins what is extracted from the sample mail: the quoted
// history of the two replies goes, the words of every other mail stay.
func TestSamples(t *testing.T) {
	tests := []struct {
		file       string
		source     string
		contains   string
		notContain string
	}{
		{"02-plain-refund-angry.eml", SourcePlain, "Absolutely disgusted.", ""},
		{"03-still-waiting-third-email.eml", SourcePlain, "I am still waiting", "Thank you for your patience"},
		{"06-html-only-shipping-update.eml", SourceHTML, "Your order BL-104233 is on its way.", "<"},
		{"12-german-latin1-qp.eml", SourcePlain, "Rückerstattung des Kaufpreises", "Mit freundlichen"},
		{"35-reply-thread-quoted.eml", SourcePlain, "hip belt pocket zipper", "Your backpack shipped today"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("../../examples/mail/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			e := FromMessage(m)
			if e.Source != tt.source || !strings.Contains(e.Text, tt.contains) || (tt.notContain != "" && strings.Contains(e.Text, tt.notContain)) {
				t.Errorf("source %s, text %q", e.Source, e.Text)
			}
		})
	}
}

func TestFromMessageEmpty(t *testing.T) {
	e := FromMessage(&analyzers.Message{})
	if e.Source != SourceNone || e.Text != "" {
		t.Errorf("empty message: %+v", e)
	}
}

func BenchmarkFromPlain(b *testing.B) {
	body := strings.Repeat("The lantern arrived broken and I want a refund, please reply soon.\n", 60) +
		"\nOn Tue, 3 Nov 2026 at 10:02, Support <s@x.example> wrote:\n" + strings.Repeat("> old text of the thread\n", 40)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		FromPlain(body)
	}
}

func TestTruncated(t *testing.T) {
	e := FromPlain(strings.Repeat("Größe passt nicht. ", 10000))
	if !e.Truncated || len(e.Text) > MaxBytes || !utf8.ValidString(e.Text) || !e.Summary().Truncated {
		t.Errorf("truncated %v, %d bytes, valid %v", e.Truncated, len(e.Text), utf8.ValidString(e.Text))
	}
	if e := FromPlain("short"); e.Truncated {
		t.Error("short text truncated")
	}
}

// BenchmarkFromPlainLongLines is a 10 KB body written as clients send it
// today, one line per paragraph, with words ("error", "this", "once")
// that the disclaimer and reply patterns start from.
func BenchmarkFromPlainLongLines(b *testing.B) {
	para := "Hello team, the checkout page shows an error when I pay by card, and the order " +
		"stays pending. I tried twice this morning and once from my phone. Could you look at " +
		"order 4471 and tell me whether the money was taken? Thanks for your help.\n\n"
	body := strings.Repeat(para, 10000/len(para))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		FromPlain(body)
	}
}

// TestFromMessageShared checks that the extraction is done once per
// message and read alike by analyzers running at once.
func TestFromMessageShared(t *testing.T) {
	m := &analyzers.Message{Text: "It broke.\n\nOn Mon, 2 Nov 2026, Shop <s@x.example> wrote:\n> Thanks!"}
	want := FromMessage(m)
	done := make(chan Extract)
	for range 8 {
		go func() { done <- FromMessage(m) }()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	if want.Text != "It broke." || want.Quoted == 0 {
		t.Errorf("extract %+v", want)
	}
	// Another message is extracted on its own.
	if e := FromMessage(&analyzers.Message{Text: "Other words."}); e.Text != "Other words." {
		t.Errorf("second message: %+v", e)
	}
}
