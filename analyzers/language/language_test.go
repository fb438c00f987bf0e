package language

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func TestDetect(t *testing.T) {
	d, err := NewDetector()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text, want, reason string
	}{
		{"Where is my order? I paid three weeks ago and nothing has arrived.", "en", ""},
		{"Ich habe die Schuhe zurückgeschickt und warte auf die Erstattung.", "de", ""},
		{"J'ai reçu ma commande hier, mais la facture est erronée.", "fr", ""},
		{"Mi pedido llegó roto y quiero un reembolso, por favor.", "es", ""},
		{"Ho ricevuto il pacco ma manca un articolo.", "it", ""},
		{"Recebi a encomenda, mas a fatura está errada.", "pt", ""},
		{"Ik heb mijn bestelling nog steeds niet ontvangen.", "nl", ""},
		{"Я заказал палатку три недели назад, и до сих пор ничего не пришло.", "ru", ""},
		{"Я замовив намет три тижні тому, і досі нічого не прийшло.", "uk", ""},
		{"Παρήγγειλα μια σκηνή πριν από τρεις εβδομάδες.", "el", ""},
		{"لقد طلبت خيمة قبل ثلاثة أسابيع ولم يصل شيء.", "ar", ""},
		{"サイズ交換は可能でしょうか。よろしくお願いいたします。", "ja", ""},
		{"我三周前订购了一顶帐篷，但什么都没有收到。", "zh", ""},
		{"3주 전에 텐트를 주문했는데 아직 아무것도 받지 못했습니다.", "ko", ""},
		{"ok", "", ReasonTooShort},
		{"12345 !!! ---", "", ReasonTooShort},
		{"ฉันสั่งเต็นท์เมื่อสามสัปดาห์ก่อนแต่ยังไม่ได้รับอะไรเลย", "", ReasonScript},
	}
	for _, tt := range tests {
		t.Run(tt.want+" "+tt.reason, func(t *testing.T) {
			got := d.Detect(tt.text)
			if got.Language != tt.want || got.Reason != tt.reason {
				t.Errorf("Detect(%q) = %+v, want %q %q", tt.text, got, tt.want, tt.reason)
			}
			if got.Language != "" && (got.Confidence <= 0.5 || got.Confidence > 1 || got.Script == "") {
				t.Errorf("confidence %v script %q", got.Confidence, got.Script)
			}
		})
	}
}

func TestRestrict(t *testing.T) {
	// Norwegian and Danish are close; a mailbox that only gets Danish says so.
	text := "Jeg har bestilt et telt for tre uger siden, men har ikke modtaget noget."
	d, err := NewDetector("da", "en", "de")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Detect(text); got.Language != "da" {
		t.Errorf("restricted: %+v", got)
	}
	only, _ := NewDetector("en", "de")
	if got := only.Detect("Я заказал палатку три недели назад."); got.Language != "" || got.Reason != ReasonScript {
		t.Errorf("Cyrillic without Cyrillic languages: %+v", got)
	}
	if _, err := NewDetector("xx"); err == nil {
		t.Error("unknown language accepted")
	}
	if s := Supported(); len(s) != 37 || !strings.Contains(strings.Join(s, " "), "de el en es") {
		t.Errorf("Supported() = %v", s)
	}
}

// TestMessage checks the detection shared through the message: one per
// restriction, from the sender's own words, the subject read with them
// only when they are too few.
func TestMessage(t *testing.T) {
	all, _ := NewDetector()
	sameAll, _ := NewDetector()
	deOnly, _ := NewDetector("en", "de")
	deOnlyAgain, _ := NewDetector("de", "en")
	tests := []struct {
		name    string
		m       *analyzers.Message
		d       *Detector
		want    string
		because string
	}{
		{"body", &analyzers.Message{Text: "Ich habe die Schuhe zurückgeschickt und warte auf die Erstattung.\n\nOn Mon, 2 Nov 2026, Shop <s@x.example> wrote:\n> Thank you for your order, it ships today and arrives soon.", Header: analyzers.Header{Subject: "Your order has shipped"}}, all, "de", "the quoted English reply is not read"},
		{"subject when the body is too short", &analyzers.Message{Text: "Danke!", Header: analyzers.Header{Subject: "Rückerstattung für meine Bestellung fehlt"}}, all, "de", ""},
		{"no words at all", &analyzers.Message{}, all, "", ReasonTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Message(tt.m)
			if got.Language != tt.want || (tt.want == "" && got.Reason != tt.because) {
				t.Errorf("Message() = %+v, want %q (%s)", got, tt.want, tt.because)
			}
		})
	}

	// Detectors restricted differently do not share a detection: Danish
	// read by one that only knows English and German is not Danish.
	m := &analyzers.Message{Text: "Jeg har bestilt et telt for tre uger siden, men har ikke modtaget noget."}
	if got := all.Message(m); got.Language != all.Detect(m.Text).Language || got.Language == "" {
		t.Errorf("all languages: %+v", got)
	}
	if got := deOnly.Message(m); got.Language == all.Message(m).Language {
		t.Errorf("restricted to en, de: %+v, the same as unrestricted", got)
	}
	if deOnly.key != deOnlyAgain.key || all.key != sameAll.key || all.key == deOnly.key {
		t.Errorf("keys %v %v %v %v: the same restriction must share one, different ones not", all.key, sameAll.key, deOnly.key, deOnlyAgain.key)
	}
}

func TestAnalyzer(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{"02-plain-refund-angry.eml", "en"},
		{"06-html-only-shipping-update.eml", "en"},
		{"12-german-latin1-qp.eml", "de"},
		{"13-russian-windows1251.eml", "ru"},
		{"14-japanese-iso2022jp.eml", "ja"},
		{"16-french-windows1252-qp.eml", "fr"},
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
			r, err := analyzers.Run(context.Background(), a, m)
			if err != nil || r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean || len(r.Symbols) != 0 {
				t.Fatalf("result %+v, %v", r, err)
			}
			var d Data
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Language != tt.want || d.Text.Chars == 0 {
				t.Errorf("data %+v", d)
			}
		})
	}
	// Nothing to read: a result that says so, not a guess.
	r, _ := analyzers.Run(context.Background(), a, &analyzers.Message{})
	var d Data
	_ = json.Unmarshal(r.Data, &d)
	if d.Language != "" || d.Reason != ReasonTooShort || d.Text.Source != "none" {
		t.Errorf("empty message: %+v", d)
	}
}

func TestMinConfidence(t *testing.T) {
	a, _ := New(Config{MinConfidence: 1.01 - 0.01})
	// Two short words shared by several languages cannot reach certainty.
	if got := a.Detect("hotel taxi banana"); got.Language != "" && got.Confidence < 1 {
		t.Errorf("below min_confidence named %+v", got)
	}
	if _, err := New(Config{MinConfidence: 2}); err == nil {
		t.Error("min_confidence 2 accepted")
	}
	if _, err := New(Config{Languages: []string{"klingon"}}); err == nil {
		t.Error("unknown language accepted")
	}
}

func BenchmarkDetect(b *testing.B) {
	d, _ := NewDetector()
	text := strings.Repeat("Hello, I ordered the Ridgeline backpack three weeks ago and it still has not arrived. ", 60)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		d.Detect(text)
	}
}
