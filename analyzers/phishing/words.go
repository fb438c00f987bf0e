package phishing

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/mailsift/mailsift/analyzers"
)

// The word lists below are what scam mail says, in the languages the
// phishing seen in public collections arrives in most (English, German,
// Portuguese, Spanish, French, Dutch, Italian). Each is matched
// case-blind on the subject and the whole text, visible HTML text
// included.

// pressurePhrases set a deadline or threaten a loss so that the reader
// acts before thinking. Like scamPhrases they are matched on lower-cased
// text: case-blind matching of long alternations costs several times more.
var pressurePhrases = newPhrase(strings.Join([]string{
	`\b(within|in|next)\s+(24|48|72|12)\s*(hours|hrs|h)\b`,
	`\b(immediately|urgent(ly)?|act now|expires? today|last chance|limited time only|as soon as possible|action required|don'?t miss)\b`,
	`\bavoid\s+(the\s+|any\s+)?(suspension|penalt|restriction|closure|deletion|legal|late fee|interruption|blocking)`,
	`\b(will|shall)\s+be\s+(permanently\s+)?(suspended|closed|deleted|terminated|blocked|disabled|removed)\b`,
	`\b(innerhalb|in)\s+(von\s+|der\s+n[äa]chsten\s+)?(24|48|72)\s*stunden`,
	`\b(sofort|dringend|umgehend|letzte[rn]?\s+(warnung|erinnerung|chance|aufforderung|aufruf|mahnung)|nur\s+(noch\s+)?heute|l[äa]uft\s+(heute|bald|morgen)\s+ab)\b`,
	`\b(em\s+at[ée]|no\s+prazo\s+de|dentro\s+de|em)\s+(24|48|72)\s*horas`,
	`\b(imediatamente|urgente|prazo\s+final|n[ãa]o\s+perca)|(^|\s)[úu]ltim[ao]\s+(chance|oportunidade|notifica|aviso)`,
	`\bevite\s+(o\s+|a\s+|os\s+|as\s+)?(bloqueio|suspens|multa|restri|cancelamento|protesto|juros)`,
	`\b(en|dentro\s+de)\s+(las\s+pr[óo]ximas\s+)?(24|48|72)\s*horas`,
	`\b(inmediatamente|evite\s+(el\s+bloqueo|la\s+suspensi))|(^|\s)[úu]ltimo\s+aviso`,
	`\bdans\s+les\s+(24|48|72)\s*heures|\b(imm[ée]diatement|dernier\s+(avis|rappel)|derni[èe]re\s+chance|expire\s+aujourd)`,
	`\bbinnen\s+(24|48|72)\s*uur|\b(onmiddellijk|laatste\s+(kans|herinnering|waarschuwing)|vandaag\s+nog)\b`,
	`\bentro\s+(24|48|72)\s*ore|\b(immediatamente|ultimo\s+avviso)\b`,
}, "|"))

// scamPhrases are the words of advance-fee, inheritance, investment and
// crypto-windfall scams: a fortune waiting, a stranger's proposal, a
// transfer to release. One of them is everyday language; two together
// rarely are, so the symbol needs two of the kinds below.
var scamPhrases = compileAll([]string{
	`\bnext\s+of\s+kin\b`,
	`\bbeneficiar(y|ies)\b|\bbenefici[áa]ri[oa]s?\b|\bb[ée]n[ée]ficiaire\b|\bbeg[üu]nstigte`,
	`\binherit(ance|ed)\b|\bheran[çc]a\b|\bherdei\b|\bherencia\b|\bh[ée]ritage\b|\berbschaft\b`,
	`\b(my|our|his|her)\s+late\s+(father|husband|client|wife|mother|brother)\b|\bfalecid[oa]\b|\bfallecid[oa]\b|\bverstorben`,
	`\bconsignment\b|\bdiplomat(ic)?\b|\batm\s+(visa\s+)?card\b|\bwestern\s+union\b|\bmoney\s*gram\b|\bbarrister\b`,
	`\b(compensation|unclaimed|dormant)\s+(fund|payment|asset|deposit|account)s?\b`,
	`\d[\d,.]*\s*(million|millions|milh[õo]es|millones|millionen)\s+(of\s+|de\s+)?(us\s+)?(dollars?|usd|euros?|d[óo]lares|pounds)`,
	`(us\$|usd|\$|€|£)\s?\d[\d,.]*\s*(million|m)\b`,
	`\b(business|investment)\s+(proposal|collaboration|partnership|opportunity)\b|\bproposta\s+de\s+neg[óo]cio`,
	`\b(transfer|release|remit)\s+(of\s+)?(the\s+|this\s+)?(fund|funds|sum|money|payment)\b`,
	`\d+\s?%\s+of\s+the\s+(total\s+)?(fund|sum|money|amount)`,
	`\bstrict(ly)?\s+confiden(tial|ce)\b|\bmutual\s+benefit\b`,
	`\b(bitcoin|btc|usdt|ethereum|crypto\s?currenc(y|ies)|kryptow[äa]hrung(en)?|criptomoeda|criptomoneda)s?\b`,
	`\b(withdraw(al)?|auszahlung|saque)\b`,
	`\b(wallet\s+address|withdrawal\s+address|mining\s+balance|airdrop|whitelist)\b`,
	`\blotter(y|ie)\b|\bsweepstakes?\b`,
	`\bover[- ]?invoic(ed|ing)\b|\blucrative\s+(contract|deal|transaction)s?\b`,
	`\b100\s?%\s+(risk[- ]free|safe\s+and\s+legal|legal\s+and\s+risk)|\brisk[- ]free\s+(transaction|transfer|deal|business)`,
	`\b(in\s+my\s+private\s+capacity|my\s+private\s+e-?mail(\s+address)?|contact\s+me\s+(privately|directly\s+on\s+my))\b`,
	`(?m)^\s*(hello|hi|good\s+day)\s+(my\s+)?dear(est)?\b|^\s*dear\s+(beloved|friend)\b|^\s*greetings\s+(to\s+you\s+)?(my\s+)?dear`,
	`\b(after|upon)\s+hearing\s+from\s+you\b|\bawait(ing)?\s+your\s+(urgent\s+|prompt\s+|quick\s+)?(reply|response)\b|\breply\s+me\b`,
})

// paymentPhrases ask for money to be moved or for where it goes to change:
// what business email compromise wants. Matched on the lower-cased text.
var paymentPhrases = newPhrase(strings.Join([]string{
	`\b(wire|bank|swift|telegraphic|international)\s+(transfer|payment|remittance)s?\b`,
	`\b(process|make|send|arrange|release|approve|execute)\s+(an?\s+|the\s+|this\s+)?(urgent\s+|same[- ]day\s+)?(payment|transfer|wire)\b`,
	`\b(change|update|new)\s+(of\s+)?(our\s+|the\s+|my\s+)?(bank(ing)?|payment|remittance)\s+(details|information|account|instructions)\b`,
	`\bgift\s*cards?\b`,
	`\bnew\s+(supplier|vendor|beneficiary|bank\s+account)\b`,
	`\b(überweisung|bankverbindung|virement|coordonn[ée]es\s+bancaires|transferencia\s+bancaria|datos\s+bancarios|transfer[êe]ncia\s+banc[áa]ria|dados\s+banc[áa]rios)\b`,
}, "|"))

// minScamPhrases is how many kinds of scam phrase make the symbol; each
// kind past them adds one to its score, two at most.
const minScamPhrases = 2

// unsubscribeWords are how bulk mail offers a way out of its list.
var unsubscribeWords = regexp.MustCompile(`(?i)\b(unsubscribe|opt[- ]out|remove yourself|abmelden|abbestellen|d[ée]sinscri|d[ée]sabonn|descadastr|desinscrev|cancelar\s+(a\s+)?inscri|desuscrib|darse\s+de\s+baja|afmelden|uitschrijven|disiscriviti)`)

// orgWords are what a display name says to pass for an organisation or
// its service desk rather than a person.
var orgWords = map[string]bool{
	"support": true, "service": true, "services": true, "team": true, "security": true,
	"account": true, "accounts": true, "billing": true, "admin": true, "administrator": true,
	"helpdesk": true, "desk": true, "department": true, "dept": true, "customer": true,
	"notification": true, "notifications": true, "alert": true, "alerts": true, "webmail": true,
	"postmaster": true, "mailer": true, "inc": true, "ltd": true, "llc": true, "corp": true,
	"gmbh": true, "bank": true, "ministry": true, "government": true, "official": true,
	"suporte": true, "atendimento": true, "servico": true, "servicos": true, "equipe": true,
	"kundenservice": true, "kundendienst": true, "soporte": true, "servicio": true,
	"assistance": true, "equipo": true, "klantenservice": true, "verification": true,
	"payments": true, "payment": true, "delivery": true, "courier": true, "shipping": true,
	"refund": true, "refunds": true, "claims": true, "compliance": true, "finance": true,
	// State and international institutions, which never write from a
	// freemail mailbox and whose names advance-fee letters borrow.
	"embassy": true, "consulate": true, "treasury": true, "federal": true, "fbi": true,
	"imf": true, "interpol": true, "police": true, "court": true, "customs": true,
	"secretariat": true, "ministerio": true, "ministere": true, "ministerium": true,
	"governo": true, "gobierno": true, "regierung": true, "gouvernement": true,
	"tribunal": true, "polizei": true, "policia": true, "nations": true,
}

// isOrgName says whether a display name reads as an organisation's.
func isOrgName(name string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(foldAccents(name)), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if orgWords[w] {
			return true
		}
	}
	return false
}

// foldAccents drops the accents of the Latin letters the word lists use.
func foldAccents(s string) string {
	return accentFolder.Replace(s)
}

var accentFolder = strings.NewReplacer(
	"á", "a", "à", "a", "â", "a", "ã", "a", "ä", "a", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i", "ó", "o", "ò", "o", "ô", "o", "õ", "o", "ö", "o",
	"ú", "u", "ù", "u", "û", "u", "ü", "u", "ç", "c", "ñ", "n",
	"Á", "A", "À", "A", "Â", "A", "Ã", "A", "Ä", "A", "É", "E", "È", "E", "Ê", "E", "Í", "I",
	"Ó", "O", "Ô", "O", "Õ", "O", "Ö", "O", "Ú", "U", "Ü", "U", "Ç", "C", "Ñ", "N",
)

// foldHit is a match as the options report it: lower-cased, its blanks
// folded to one space, so that one phrase written two ways is one option.
func foldHit(hit string) string {
	return strings.ToLower(strings.Join(strings.Fields(hit), " "))
}

// distinctHits returns the different matches of p in text (w's text as
// written or lower-cased), lower-cased and with blanks folded, at most max.
func distinctHits(p phrase, text string, w *scanned, max int) []string {
	re := p.forText(w)
	if re == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, hit := range re.FindAllString(text, 50) {
		h := foldHit(hit)
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// phrase is a word-list expression with literals one of which every match
// contains. Most mail contains none of them, and a substring
// search for the openings costs a fraction of running the expression: it
// took phishing's time on typical mail from 0.5 ms to a tenth of that.
//
// A long list has too many openings to look for as a whole, and some of
// them are in nearly every mail, so each of its top-level alternatives
// keeps its own; a message then runs an expression of only the
// alternatives whose openings it holds (see forText).
type phrase struct {
	re *regexp.Regexp
	// The numbers of its openings among all the lists' literals; nil: the
	// expression can start anywhere, always run it.
	openIDs []int32

	flags   string        // a leading flag group such as (?i), which every alternative needs
	alts    []alternative // when there are two or more
	subsets *subsetCache
}

type alternative struct {
	expr    string
	openIDs []int32 // nil: it may match anywhere
}

// subsetCache holds the expressions compiled for subsets of a phrase's
// alternatives; mail of one kind needs few of them.
type subsetCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

// maxSubsets bounds a phrase's compiled subsets, about 30 KB each for the
// long lists (all phrases together then hold at most some 10 MB); past it,
// the whole expression runs, as it would without them.
const maxSubsets = 64

// newPhrase compiles expr, which must be written in lower case or be
// case-blind ((?i)), since its literals are looked for in lower-cased text.
func newPhrase(expr string) phrase {
	p := phrase{re: regexp.MustCompile(expr), openIDs: openingIDs(expr)}
	flags, alts := splitAlternatives(expr)
	if len(alts) < 2 {
		return p
	}
	p.flags, p.subsets = flags, &subsetCache{m: map[string]*regexp.Regexp{}}
	for _, a := range alts {
		p.alts = append(p.alts, alternative{expr: a, openIDs: openingIDs(flags + a)})
	}
	return p
}

// openingIDs numbers the openings of expr; nil when it may match anywhere.
func openingIDs(expr string) []int32 {
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	return literalNumbers(openings(parsed.Simplify()))
}

// splitAlternatives splits expr at its top-level '|', after a leading flag
// group, which it returns apart.
func splitAlternatives(expr string) (flags string, alts []string) {
	if strings.HasPrefix(expr, "(?") {
		if end := strings.IndexByte(expr, ')'); end > 0 && !strings.ContainsAny(expr[2:end], ":(") {
			flags, expr = expr[:end+1], expr[end+1:]
		}
	}
	depth, inClass, start := 0, false, 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			// A ']' right after '[' or '[^' is a member, not the end.
			if i+1 < len(expr) && expr[i+1] == '^' {
				i++
			}
			if i+1 < len(expr) && expr[i+1] == ']' {
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, expr[start:i])
			start = i + 1
		}
	}
	return flags, append(alts, expr[start:])
}

func compileAll(exprs []string) []phrase {
	out := make([]phrase, len(exprs))
	for i, e := range exprs {
		out[i] = newPhrase(e)
	}
	return out
}

// scanned is a text as the word lists read it: as written, lower-cased, and
// which of the lists' literals it holds (found in one pass).
type scanned struct {
	text, lower string
	has         literalSet
}

func scanText(text string) *scanned {
	lower := strings.ToLower(text)
	return &scanned{text: text, lower: lower, has: wordNeedles.scan(lower)}
}

// mayMatch says whether the text holds one of the literals every match
// contains; when it does not, the expression cannot match.
func (p phrase) mayMatch(w *scanned) bool {
	return w.has.anyOf(p.openIDs)
}

// forText returns the expression to run on the text, or nil when nothing
// in it can match. An alternative whose openings the text lacks cannot
// match anywhere in it, so leaving it out changes no match: leftmost-first
// matching picks, at each position, the first alternative that matches
// there, and that is never one left out.
func (p phrase) forText(w *scanned) *regexp.Regexp {
	if !p.mayMatch(w) {
		return nil
	}
	if len(p.alts) == 0 {
		return p.re
	}
	key := make([]byte, (len(p.alts)+7)/8)
	var chosen []string
	for i, a := range p.alts {
		if w.has.anyOf(a.openIDs) {
			key[i/8] |= 1 << (i % 8)
			chosen = append(chosen, a.expr)
		}
	}
	switch len(chosen) {
	case 0:
		return nil
	case len(p.alts):
		return p.re
	}
	c := p.subsets
	c.mu.Lock()
	defer c.mu.Unlock()
	if re, ok := c.m[string(key)]; ok {
		return re
	}
	if len(c.m) >= maxSubsets {
		return p.re
	}
	re, err := regexp.Compile(p.flags + strings.Join(chosen, "|"))
	if err != nil {
		return p.re
	}
	c.m[string(key)] = re
	return re
}

// find returns the first match in the lower-cased text (the lists are
// written in lower case).
func (p phrase) find(w *scanned) string {
	return p.findIn(w.lower, w)
}

// findIn returns the first match in text, w's text as written or
// lower-cased.
func (p phrase) findIn(text string, w *scanned) string {
	re := p.forText(w)
	if re == nil {
		return ""
	}
	return re.FindString(text)
}

// matches says whether the expression matches w's text as written.
func (p phrase) matches(w *scanned) bool {
	re := p.forText(w)
	return re != nil && re.MatchString(w.text)
}

// maxOpenings bounds the literal sets built below, so an expression with
// many alternatives is run rather than prefiltered by hundreds of searches.
const maxOpenings = 48

// openings returns literal strings one of which every match of re
// contains, or nil when there is no such set. Of the sets it could use it
// takes the most selective: the one whose shortest string is longest.
func openings(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return openings(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return openings(re.Sub[0])
		}
		return nil
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			o := openings(sub)
			if o == nil || len(out)+len(o) > maxOpenings {
				return nil
			}
			out = append(out, o...)
		}
		return out
	case syntax.OpConcat:
		p, _ := prefixes(re)
		best := usable(p)
		for _, sub := range re.Sub {
			if o := openings(sub); o != nil && selective(o, best) {
				best = o
			}
		}
		return best
	}
	p, _ := prefixes(re)
	return usable(p)
}

// prefixes returns strings one of which every match of re starts with;
// complete says they are the whole matches, so that what follows re can be
// appended to them.
func prefixes(re *syntax.Regexp) (set []string, complete bool) {
	switch re.Op {
	case syntax.OpLiteral:
		lit := string(re.Rune)
		if re.Flags&syntax.FoldCase != 0 {
			lit = strings.ToLower(lit)
		}
		return []string{lit}, true
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return []string{""}, true // takes no characters
	case syntax.OpCharClass:
		var out []string
		for k := 0; k+1 < len(re.Rune); k += 2 {
			for r := re.Rune[k]; r <= re.Rune[k+1]; r++ {
				if len(out) == 4 {
					return nil, false // a wide class: \d, \w, \s
				}
				out = append(out, strings.ToLower(string(r)))
			}
		}
		return out, true
	case syntax.OpCapture:
		return prefixes(re.Sub[0])
	case syntax.OpQuest:
		sub, ok := prefixes(re.Sub[0])
		if sub == nil || len(sub) >= maxOpenings {
			return nil, false
		}
		return append([]string{""}, sub...), ok
	case syntax.OpPlus:
		sub, _ := prefixes(re.Sub[0])
		return sub, false
	case syntax.OpAlternate:
		var out []string
		complete := true
		for _, sub := range re.Sub {
			p, ok := prefixes(sub)
			if p == nil || len(out)+len(p) > maxOpenings {
				return nil, false
			}
			out = append(out, p...)
			complete = complete && ok
		}
		return out, complete
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			next, ok := prefixes(sub)
			if next == nil || len(out)*len(next) > maxOpenings {
				return out, false
			}
			var joined []string
			for _, a := range out {
				for _, b := range next {
					joined = append(joined, a+b)
				}
			}
			out = joined
			if !ok {
				return out, false
			}
		}
		return out, true
	}
	return nil, false
}

// usable drops a set that holds the empty string: it would match any text.
func usable(set []string) []string {
	if slices.Contains(set, "") {
		return nil
	}
	return set
}

// selective says whether set o makes a better needle than best: a longer
// shortest string, or one as long with no more letters in it (one letter
// is in every text, a "$" or "€" in few); on a tie the later set wins, as
// the words further into a phrase are its rarer ones.
func selective(o, best []string) bool {
	if so, sb := shortest(o), shortest(best); so != sb {
		return so > sb
	}
	return letters(shortestOf(o)) <= letters(shortestOf(best))
}

func shortestOf(set []string) string {
	if len(set) == 0 {
		return ""
	}
	return slices.MinFunc(set, func(a, b string) int { return len(a) - len(b) })
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

func shortest(set []string) int {
	return len(shortestOf(set))
}

// kindsMatched returns the first match of each expression in the
// lower-cased text, with blanks folded.
func kindsMatched(ps []phrase, w *scanned) []string {
	var out []string
	for _, p := range ps {
		if hit := p.find(w); hit != "" {
			out = append(out, foldHit(hit))
		}
	}
	return out
}

// wordJoiners are the characters scam mail joins words with so that word
// filters miss them.
var wordJoiners = strings.NewReplacer("_", " ")

// archivePassword is a password given in the text, the way mail that
// carries an encrypted archive hands over its key so that the archive
// passes virus scanners unopened.
var archivePassword = regexp.MustCompile(`(?i)\b(password|passwort|kennwort|senha|contrase[ñn]a|mot\s+de\s+passe|wachtwoord|pwd|pass)\b(\s+\pL+)?\W{0,3}(is\s+|ist\s+|é\s+|es\s+|:|=|\{)\s*\S{3,}`)

// archiveName is the name of an attached archive, or "".
func archiveName(m *analyzers.Message) string {
	for _, p := range m.Attachments {
		n := strings.ToLower(p.Filename)
		for _, ext := range []string{".zip", ".rar", ".7z", ".ace", ".arj", ".r00", ".cab", ".iso", ".img", ".tar.gz", ".tgz"} {
			if strings.HasSuffix(n, ext) {
				return p.Filename
			}
		}
	}
	return ""
}

// The three parts of a call-back scam: a phone number, a bid to call it,
// and a purchase, renewal or charge the reader did not make.
var (
	callNumber = regexp.MustCompile(`(\+|\b)\d[\d ().-]{6,16}\d\b`)
	callWords  = newPhrase(`(?i)\b(call|phone|dial|ring)\b|\b(ligue|ligar|llame|llamar|rufen\s+sie|anrufen|appelez|bel\s+(ons|naar|direct))\b`)
	// contactNumber asks the reader to get in touch by a number, in words
	// that are not "call".
	contactNumber = newPhrase(`(?i)\b(contact|reach)\s+(us|our\s+[\pL ]{0,30}?(team|support|desk|department|cent(er|re)))\s+(at|on|via|by\s+phone)\b|\b(help\s*cent(er|re)|help\s*desk|support|billing|customer\s+service)\s+(number|line|hotline)\b`)
	callReasons   = newPhrase(`(?i)\b(transaction|purchase|order|renewal|subscription|charged?|debited|refund|cancel+ation|transa[çc][ãa]o|compra|cobran[çc]a|pedido|assinatura|bestellung|abbuchung|verl[äa]ngerung|commande|achat|pr[ée]l[èe]vement|transacci[óo]n|suscripci[óo]n)\b`)
)

// linkInName finds a link or a domain with a path in a display name:
// sign-up forms abused to send a lure in the name field.
var linkInName = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}/`)
