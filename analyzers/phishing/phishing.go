// Package phishing is the built-in analyzer that looks for the tricks of
// phishing mail in its links and its sender: link text that shows one
// domain and leads to another, hosts that imitate a brand or the
// recipient's own domain, IP addresses, shorteners and free hosting,
// script and data links, forms, credential-harvesting words, and senders
// whose name claims a brand their address does not belong to. Links
// rewritten by Proofpoint URL Defense or Microsoft Safe Links are judged by
// their real destination.
//
// It works offline: no lookups, only the message and a history of sender
// domains per mailbox kept in the shared state.
package phishing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/mailsift/mailsift/analyzers"
)

// Name is the analyzer's name in configs and reports.
const Name = "phishing"

// Symbols.
const (
	LinkTextMismatch  = "PHISH_LINK_TEXT_MISMATCH"
	LinkIP            = "PHISH_LINK_IP"
	LinkUserinfo      = "PHISH_LINK_USERINFO"
	LinkPunycode      = "PHISH_LINK_PUNYCODE"
	LinkMixedScript   = "PHISH_LINK_MIXED_SCRIPT"
	LinkLookalike     = "PHISH_LINK_LOOKALIKE_BRAND"
	LinkBrandInHost   = "PHISH_LINK_BRAND_IN_HOST"
	LinkLookalikeOwn  = "PHISH_LINK_LOOKALIKE_OWN"
	LinkShortener     = "PHISH_LINK_SHORTENER"
	LinkHosted        = "PHISH_LINK_HOSTED_PAGE"
	LinkData          = "PHISH_LINK_DATA"
	LinkScript        = "PHISH_LINK_SCRIPT"
	Form              = "PHISH_FORM"
	FormElsewhere     = "PHISH_FORM_ELSEWHERE"
	PasswordField     = "PHISH_PASSWORD_FIELD"
	CredentialWords   = "PHISH_CREDENTIAL_WORDS"
	HTMLAttachment    = "PHISH_HTML_ATTACHMENT"
	LureWords         = "PHISH_LURE_WORDS"
	HiddenText        = "PHISH_HIDDEN_TEXT"
	ImageOnly         = "PHISH_IMAGE_ONLY"
	Pressure          = "PHISH_PRESSURE_WORDS"
	ScamWords         = "PHISH_SCAM_WORDS"
	AbusedTLD         = "PHISH_ABUSED_TLD"
	ImageHosting      = "PHISH_IMAGE_HOSTING"
	ImageIP           = "PHISH_IMAGE_IP"
	BulkNoUnsubscribe = "PHISH_BULK_NO_LIST_UNSUB"
	ArchivePassword   = "PHISH_ARCHIVE_PASSWORD"
	Callback          = "PHISH_CALLBACK"

	DisplayNameBrand  = "PHISH_DISPLAY_NAME_BRAND"
	DisplayNameDomain = "PHISH_DISPLAY_NAME_DOMAIN"
	FromLookalike     = "PHISH_FROM_LOOKALIKE_BRAND"
	FromLookalikeOwn  = "PHISH_FROM_LOOKALIKE_OWN"
	ReplyToFreemail   = "PHISH_REPLYTO_FREEMAIL"
	ReturnPathOther   = "PHISH_RETURN_PATH_MISMATCH"
	ObfuscatedHeader  = "PHISH_OBFUSCATED_HEADER"
	RecipientSubject  = "PHISH_RCPT_IN_SUBJECT"
	SenderFirstSeen   = "PHISH_SENDER_FIRST_SEEN"
	FromMalformed     = "PHISH_FROM_MALFORMED"
	FromRandom        = "PHISH_FROM_RANDOM"
	SenderHosted      = "PHISH_SENDER_HOSTED"
	FreemailOrg       = "PHISH_FREEMAIL_ORG"
	EmojiName         = "PHISH_EMOJI_NAME"
	RecipientNameLink = "PHISH_RCPT_NAME_LINK"

	FreemailUndisclosed  = "PHISH_FREEMAIL_UNDISCLOSED"
	FreemailNameMismatch = "PHISH_FREEMAIL_NAME_MISMATCH"
	MoneyFreemail        = "PHISH_MONEY_FREEMAIL"
	RecipientMass        = "PHISH_RCPT_MASS"
	AltOne               = "PHISH_MIME_ALT_ONE"
	AltMismatch          = "PHISH_ALT_MISMATCH"
	Forwarded            = "PHISH_FORWARDED"
	MailerMadeUp         = "PHISH_MAILER_MADE_UP"
	LinkRecipient        = "PHISH_LINK_RCPT_ADDRESS"

	InternalReplyOffsite = "PHISH_INTERNAL_REPLY_OFFSITE"
	PaymentRequest       = "PHISH_PAYMENT_REQUEST"
)

// defaultScores: a look-alike domain or a link whose text lies about its
// destination is suspicious alone; weaker signs (a shortener, a brand
// name in a host, a Return-Path elsewhere) only count with others.
var defaultScores = map[string]float64{
	LinkTextMismatch:  6,
	LinkIP:            4,
	LinkUserinfo:      4,
	LinkPunycode:      2,
	LinkMixedScript:   5,
	LinkLookalike:     7,
	LinkBrandInHost:   3,
	LinkLookalikeOwn:  7,
	LinkShortener:     1.5,
	LinkHosted:        2.5,
	LinkData:          5,
	LinkScript:        5,
	Form:              3,
	FormElsewhere:     3,
	PasswordField:     4,
	CredentialWords:   3.5,
	HTMLAttachment:    4,
	LureWords:         2.5,
	HiddenText:        2,
	ImageOnly:         2,
	Pressure:          0.5,
	ScamWords:         3,
	AbusedTLD:         2.5,
	ImageHosting:      1.5,
	ImageIP:           1,
	BulkNoUnsubscribe: 2.5,
	ArchivePassword:   2.5,
	Callback:          2.5,

	DisplayNameBrand:  4,
	DisplayNameDomain: 3,
	FromLookalike:     7,
	FromLookalikeOwn:  7,
	ReplyToFreemail:   2,
	ReturnPathOther:   0.5,
	ObfuscatedHeader:  3,
	RecipientSubject:  2,
	SenderFirstSeen:   1,
	FromMalformed:     3,
	FromRandom:        2.5,
	SenderHosted:      2.5,
	FreemailOrg:       2.5,
	EmojiName:         1,
	RecipientNameLink: 3,

	FreemailUndisclosed:  2,
	FreemailNameMismatch: 1,
	MoneyFreemail:        2,
	RecipientMass:        2,
	AltOne:               1.5,
	AltMismatch:          2,
	MailerMadeUp:         1.5,
	LinkRecipient:        1.5,
	// Business email compromise: a colleague's address whose answers go
	// elsewhere, asking for money to move. The first alone is internal
	// mail answered by a ticket system as often as fraud, so it only
	// marks; the request is what counts (and `headers` scores any
	// Reply-To elsewhere already).
	InternalReplyOffsite: 0,
	PaymentRequest:       5,
	// Only marks that a forwarded message was judged; its findings carry
	// their own scores.
	Forwarded: 0,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// Brands replaces the built-in list of impersonated brands when set.
	Brands []Brand `yaml:"brands"`
	// ExtraBrands are added to Brands: your own company, your bank.
	ExtraBrands []Brand `yaml:"extra_brands"`
	// OwnDomains are the recipients' own domains, whose look-alikes are
	// suspect. The domains of the To, Cc and Delivered-To addresses of each
	// message are added to them.
	OwnDomains []string `yaml:"own_domains"`
	// Shorteners and Hosting replace the built-in lists when set; entries
	// match a host and its subdomains.
	Shorteners []string `yaml:"shorteners"`
	Hosting    []string `yaml:"hosting"`
	// FirstSeenTTL is how long a sender domain stays known to a mailbox
	// after its last mail; 0 keeps it for ever.
	FirstSeenTTL time.Duration `yaml:"first_seen_ttl"`
	// Suspicious and Malicious are the score thresholds of the verdict;
	// 0 turns a level off.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
// The lists are left empty: empty means the built-in ones, so that a
// config file does not freeze today's lists.
func DefaultConfig() Config {
	return Config{FirstSeenTTL: 8760 * time.Hour, Suspicious: 5, Malicious: 15}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Doc:      "phishing links and senders: text/destination mismatch, look-alike domains, forms, credential words, brand impersonation",
		New: func(opts analyzers.Options) (analyzers.Analyzer, error) {
			cfg := DefaultConfig()
			if opts != nil {
				if err := opts.Decode(&cfg); err != nil {
					return nil, err
				}
			}
			return New(cfg)
		},
	})
}

// brand is a Brand prepared for matching.
type brand struct {
	name    string     // as configured, for options
	words   [][]string // each name as skeleton words
	labels  []string   // each name's skeleton without blanks ("bankofamerica")
	plain   []string   // each name lower-cased without blanks, as spelled
	domains map[string]bool
	// labels of the domains below their public suffix, and their
	// skeletons, worked out once
	domLabels, domSkels []string
}

// Analyzer looks for phishing. It is safe for concurrent use once
// attached.
type Analyzer struct {
	cfg        Config
	scores     map[string]float64
	brands     []brand
	own        []string
	shorteners []string
	hosting    []string
	senders    *senderHistory // nil until Attach
}

// New builds the analyzer.
func New(cfg Config) (*Analyzer, error) {
	scores := maps.Clone(defaultScores)
	for k, v := range cfg.Scores {
		if _, ok := scores[k]; !ok {
			return nil, fmt.Errorf("scores: unknown symbol %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(defaultScores)), ", "))
		}
		scores[k] = v
	}
	if cfg.FirstSeenTTL < 0 {
		return nil, fmt.Errorf("first_seen_ttl %v is negative", cfg.FirstSeenTTL)
	}
	a := &Analyzer{cfg: cfg, scores: scores, shorteners: defaultShorteners, hosting: defaultHosting}
	list := defaultBrands
	if cfg.Brands != nil {
		list = cfg.Brands
	}
	for i, b := range append(slices.Clone(list), cfg.ExtraBrands...) {
		if len(b.Names) == 0 || len(b.Domains) == 0 {
			return nil, fmt.Errorf("brands: entry %d needs names and domains", i+1)
		}
		pb := brand{name: b.Names[0], domains: map[string]bool{}}
		for _, n := range b.Names {
			w := words(n)
			if len(w) == 0 {
				return nil, fmt.Errorf("brands: name %q has no letters", n)
			}
			pb.words = append(pb.words, w)
			pb.labels = append(pb.labels, strings.Join(w, ""))
			pb.plain = append(pb.plain, strings.Map(func(r rune) rune {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					return unicode.ToLower(r)
				}
				return -1
			}, n))
		}
		for _, d := range b.Domains {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "" {
				return nil, fmt.Errorf("brands %q: empty domain", b.Names[0])
			}
			reg := analyzers.RegisteredDomain(d)
			if !pb.domains[reg] {
				pb.domains[reg] = true
				l, _ := splitReg(reg)
				pb.domLabels = append(pb.domLabels, l)
				pb.domSkels = append(pb.domSkels, skeleton2(l))
			}
		}
		a.brands = append(a.brands, pb)
	}
	for _, d := range cfg.OwnDomains {
		if d = strings.ToLower(strings.TrimSpace(d)); d == "" {
			return nil, errors.New("own_domains: empty domain")
		}
		a.own = append(a.own, analyzers.RegisteredDomain(d))
	}
	if cfg.Shorteners != nil {
		a.shorteners = cfg.Shorteners
	}
	if cfg.Hosting != nil {
		a.hosting = cfg.Hosting
	}
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// senderBucket holds, per mailbox, the sender domains seen.
const senderBucket = "phishing-senders"

// Attach implements analyzers.Stateful: the history of sender domains.
func (a *Analyzer) Attach(ctx context.Context, s analyzers.State) error {
	kv, err := s.Bucket(ctx, senderBucket, a.cfg.FirstSeenTTL)
	if err != nil {
		return fmt.Errorf("phishing: opening bucket %s: %w", senderBucket, err)
	}
	a.senders = newSenderHistory(kv, a.cfg.FirstSeenTTL)
	return nil
}

// Data is the analyzer's result data.
type Data struct {
	// Links are the links judged, rewritten ones by their destination, at
	// most maxDataLinks of them; LinksTotal counts them all.
	Links      []Link `json:"links"`
	LinksTotal int    `json:"links_total"`
	// FromDomain is the registered domain of the first From address.
	FromDomain string `json:"from_domain,omitempty"`
	// OwnDomains are the recipient domains look-alikes were checked
	// against.
	OwnDomains []string `json:"own_domains,omitempty"`
	// FirstSeen says whether this mailbox had no mail from FromDomain
	// before; absent when no history is attached.
	FirstSeen *bool `json:"first_seen,omitempty"`
}

// Link is one link as judged.
type Link struct {
	URL string `json:"url"`
	// Original is the link as written when a gateway rewrote it, and Via
	// the rewriters it went through.
	Original string             `json:"original,omitempty"`
	Via      []string           `json:"via,omitempty"`
	Text     string             `json:"text,omitempty"`
	Part     string             `json:"part"`
	Kind     analyzers.LinkKind `json:"kind"`
	Host     string             `json:"host,omitempty"`
}

const (
	maxDataLinks = 100
	// maxOptions bounds the options of one symbol.
	maxOptions = 5
)

// finding collects the options of each symbol before it is added once.
type finding struct {
	order []string
	opts  map[string][]string
	extra map[string]float64
	// payment is the request to move money the text makes, if any; it
	// counts only beside a sender that is not what it seems (judgeBEC).
	payment string
}

func (f *finding) add(sym string, opt ...string) {
	if f.opts == nil {
		f.opts = map[string][]string{}
	}
	cur, ok := f.opts[sym]
	if !ok {
		f.order = append(f.order, sym)
	}
	for _, o := range opt {
		if len(cur) < maxOptions && !slices.Contains(cur, o) {
			cur = append(cur, o)
		}
	}
	f.opts[sym] = cur
}

func (f *finding) has(sym string) bool { _, ok := f.opts[sym]; return ok }

// addScore adds a symbol whose score grows with the evidence: extra is
// added to the symbol's configured score.
func (f *finding) addScore(sym string, extra float64, opt ...string) {
	f.add(sym, opt...)
	if f.extra == nil {
		f.extra = map[string]float64{}
	}
	f.extra[sym] = extra
}

// judged is one link with what was worked out about it.
type judged struct {
	Link
	h      host
	web    bool // an http(s)/ftp link with a host
	scheme string
}

// Analyze fails only when the sender history cannot be read or written.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	var f finding
	var d Data
	from := decodedFrom(m)
	fromDom := ""
	if from != nil {
		fromDom = analyzers.RegisteredDomain(domainOf(from.Address))
	}
	d.FromDomain = fromDom
	own := a.ownDomains(m)
	d.OwnDomains = own

	links := a.links(m)
	d.LinksTotal = len(links)
	for i, l := range links {
		if i < maxDataLinks {
			d.Links = append(d.Links, l.Link)
		}
	}
	report := isReport(m)
	if report {
		links = slices.DeleteFunc(links, func(l judged) bool {
			return l.Kind == analyzers.LinkText || l.Part != "1" && !strings.HasPrefix(l.Part, "1.")
		})
	}
	offDomain := a.judgeLinks(&f, links, fromDom, own)
	a.judgeHTML(&f, m, fromDom)
	a.judgeWords(&f, m, links, fromDom, offDomain)
	a.judgeSender(&f, m, from, fromDom, own)
	judgeBEC(&f)
	a.judgeInfrastructure(&f, m, from, fromDom, own, links)
	a.judgeEnvelope(&f, m, from, fromDom)
	a.judgeStructure(&f, m)
	a.judgeLinkRecipient(&f, m, offDomain)
	if !report {
		a.judgeForwarded(&f, m, own)
	}

	var r analyzers.Result
	for _, sym := range f.order {
		score := a.scores[sym]
		if score != 0 {
			score += f.extra[sym]
		}
		r.Add(sym, score, f.opts[sym]...)
	}
	if fromDom != "" && a.senders != nil {
		first, err := a.senders.firstSeen(ctx, historyKey(m.Mailbox, fromDom), m.ID)
		if err != nil {
			return analyzers.Result{}, err
		}
		d.FirstSeen = &first
		// Every sender is new once, so a new one only adds weight to
		// other signs.
		if first && len(r.Symbols) > 0 && r.Score > 0 {
			r.Add(SenderFirstSeen, a.scores[SenderFirstSeen], fromDom)
		}
	}
	r.Verdict = a.verdict(r.Score)
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

func (a *Analyzer) verdict(score float64) analyzers.Verdict {
	switch {
	case a.cfg.Malicious > 0 && score >= a.cfg.Malicious:
		return analyzers.VerdictMalicious
	case a.cfg.Suspicious > 0 && score >= a.cfg.Suspicious:
		return analyzers.VerdictSuspicious
	}
	return analyzers.VerdictClean
}

func firstFrom(m *analyzers.Message) *mail.Address {
	if len(m.Header.From) == 0 {
		return nil
	}
	return m.Header.From[0]
}

// ownDomains are the configured own domains plus the recipients'.
func (a *Analyzer) ownDomains(m *analyzers.Message) []string {
	out := slices.Clone(a.own)
	add := func(addr string) {
		if d := domainOf(addr); d != "" && strings.Contains(d, ".") {
			if r := analyzers.RegisteredDomain(d); !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	for _, l := range [][]*mail.Address{m.Header.To, m.Header.Cc} {
		for _, ad := range l {
			add(ad.Address)
		}
	}
	for _, k := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range m.Header.Values(k) {
			add(strings.TrimSpace(v))
		}
	}
	return out
}

// links gathers the message's links and those of attached HTML files,
// rewritten ones replaced by their destination.
func (a *Analyzer) links(m *analyzers.Message) []judged {
	all := slices.Clone(m.Links)
	for _, p := range m.Attachments {
		if isHTMLFile(p) {
			all = append(all, analyzers.HTMLLinks(partText(p), p.Path)...)
		}
	}
	out := make([]judged, 0, len(all))
	for _, l := range all {
		j := judged{Link: Link{URL: l.URL, Text: l.Text, Part: l.Part, Kind: l.Kind}}
		if dest, via := Unwrap(l.URL); len(via) > 0 {
			j.Original, j.URL, j.Via = l.URL, dest, via
		}
		j.scheme = scheme(j.URL)
		if h, ok := parseHost(j.URL); ok {
			j.h, j.web = h, true
			j.Host = h.display
		}
		out = append(out, j)
	}
	return out
}

func isHTMLFile(p *analyzers.Part) bool {
	name := strings.ToLower(p.Filename)
	for _, ext := range []string{".htm", ".html", ".xhtml", ".shtml", ".svg", ".mht"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return p.ContentType == "text/html" || p.ContentType == "image/svg+xml"
}

func partText(p *analyzers.Part) string {
	return strings.ToValidUTF8(string(p.Content), "\uFFFD")
}

func scheme(u string) string {
	u = strings.TrimSpace(u)
	clean := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, u)
	if i := strings.IndexByte(clean, ':'); i > 0 {
		s := strings.ToLower(clean[:i])
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
				return ""
			}
		}
		return s
	}
	return ""
}

// clickable links are those a reader follows or submits to; resources a
// client loads by itself (images) are not judged as links.
func clickable(k analyzers.LinkKind) bool {
	return k == analyzers.LinkHref || k == analyzers.LinkText || k == analyzers.LinkFormAction
}

// judgeLinks adds the link symbols and returns the clickable web links
// that lead off the sender's registered domain.
func (a *Analyzer) judgeLinks(f *finding, links []judged, fromDom string, own []string) []judged {
	var off []judged
	for _, l := range links {
		if !clickable(l.Kind) {
			continue
		}
		switch l.scheme {
		case "javascript", "vbscript":
			f.add(LinkScript, short(l.URL))
			continue
		case "data":
			f.add(LinkData, short(l.URL))
			continue
		}
		if !l.web {
			continue
		}
		h := l.h
		if a.leadsOff(l, fromDom) {
			off = append(off, l)
		}
		if h.userinfo {
			f.add(LinkUserinfo, short(l.URL))
		}
		if h.ip {
			f.add(LinkIP, h.ascii)
		}
		if l.Kind == analyzers.LinkHref {
			if shown := shownHost(l.Text); shown != "" && shown != h.reg && shown != fromDom && !a.sameBrand(shown, h.reg) {
				f.add(LinkTextMismatch, "shown="+shown, "goes="+h.display)
			}
		}
		if h.ip {
			continue
		}
		if strings.Contains(h.ascii, "xn--") {
			f.add(LinkPunycode, h.display)
			for _, label := range strings.Split(h.display, ".") {
				if mixedScript(label) {
					f.add(LinkMixedScript, h.display)
				}
			}
		}
		if b, how := a.brandLookalike(h); how != "" {
			sym := LinkLookalike
			if how == "in-host" {
				sym = LinkBrandInHost
			}
			f.add(sym, h.display+"~"+b)
		}
		if o := lookalikeOf(h.reg, own); o != "" {
			f.add(LinkLookalikeOwn, h.display+"~"+o)
		}
		if matchesAny(h.ascii, a.shorteners) {
			f.add(LinkShortener, h.ascii)
		}
		if a.hostedPage(h.ascii) && h.reg != fromDom && !a.sameBrand(fromDom, h.reg) {
			f.add(LinkHosted, h.ascii)
		}
	}
	return off
}

// leadsOff says whether l is a clickable web link to another registered
// domain than the sender's, and not to one of the sender's brand's.
func (a *Analyzer) leadsOff(l judged, fromDom string) bool {
	return clickable(l.Kind) && l.web && l.h.reg != fromDom && !a.sameBrand(l.h.reg, fromDom)
}

func short(s string) string {
	if utf8.RuneCountInString(s) > 80 {
		return string([]rune(s)[:80]) + "…"
	}
	return s
}

// matchesAny says whether host is one of list or below one of them.
func matchesAny(host string, list []string) bool {
	for _, e := range list {
		if host == e || strings.HasSuffix(host, "."+e) {
			return true
		}
	}
	return false
}

// sameBrand says whether two registered domains belong to one brand.
func (a *Analyzer) sameBrand(x, y string) bool {
	for _, b := range a.brands {
		if b.domains[x] && b.domains[y] {
			return true
		}
	}
	return false
}

var shownDomain = regexp.MustCompile(`(?i)^(?:[a-z][a-z0-9+.-]*://)?(?:[^\s/@]+@)?((?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+[\p{L}]{2,63})\.?(?::\d+)?(?:[/?#]\S*)?$`)

// shownHost is the registered domain that a link's text shows, when the
// text is a URL or a bare domain name ("paypal.com", "www.bank.example/
// login"), or "".
func shownHost(text string) string {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \t") {
		return ""
	}
	m := shownDomain.FindStringSubmatch(t)
	if m == nil {
		return ""
	}
	name := strings.ToLower(m[1])
	if _, icann := publicsuffix.PublicSuffix(name); !icann && !strings.Contains(t, "://") {
		// "file.pdf" or "v2.config": not a domain someone means to show.
		return ""
	}
	h, ok := parseHost("http://" + name)
	if !ok || h.ip {
		return ""
	}
	return h.reg
}

// brandLookalike says which brand a host imitates and how: "lookalike"
// when its registered domain is a brand's written with look-alike letters
// or one typo away, "in-host" when a brand's name is a label or word of a
// host that is not the brand's.
func (a *Analyzer) brandLookalike(h host) (string, string) {
	if h.ip {
		return "", ""
	}
	label, suffix := splitReg(h.reg)
	if label == "" {
		return "", ""
	}
	for _, b := range a.brands {
		if b.domains[h.reg] {
			return "", ""
		}
	}
	sk := skeleton2(label)
	for _, b := range a.brands {
		for i, bl := range b.domLabels {
			bsk := b.domSkels[i]
			if len(bsk) < 4 {
				continue
			}
			if sk == bsk && label != bl {
				return b.name, "lookalike"
			}
			if utf8.RuneCountInString(bsk) >= 5 && nearMiss(sk, bsk) {
				return b.name, "lookalike"
			}
		}
	}
	// A brand's name among the words of the host: paypal.com-login.example,
	// secure-paypal.example, paypal.example (the brand's name on another
	// suffix).
	hostWords := hostTokens(h.ascii, suffix)
	for _, b := range a.brands {
		for _, n := range b.labels {
			for _, w := range hostWords {
				if w == n || len(n) >= 6 && !commonWordBrands[n] && strings.Contains(w, n) {
					return b.name, "in-host"
				}
			}
		}
	}
	return "", ""
}

// splitReg splits a registered domain into its label and public suffix.
func splitReg(reg string) (label, suffix string) {
	suffix, _ = publicsuffix.PublicSuffix(reg)
	label = strings.TrimSuffix(strings.TrimSuffix(reg, suffix), ".")
	return label, suffix
}

// hostTokens are the words of a host name below its public suffix, split
// at dots and hyphens, as skeletons.
func hostTokens(ascii, suffix string) []string {
	name := strings.TrimSuffix(strings.TrimSuffix(ascii, suffix), ".")
	var out []string
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		if s := skeleton2(w); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// lookalikeOf returns the domain of list that reg imitates: the same
// letters after look-alike folding, or one typo away, without being it.
func lookalikeOf(reg string, list []string) string {
	label, _ := splitReg(reg)
	if label == "" {
		return ""
	}
	sk := skeleton2(label)
	for _, o := range list {
		if o == reg {
			continue
		}
		ol, _ := splitReg(o)
		osk := skeleton2(ol)
		if len(osk) < 4 {
			continue
		}
		// One typo apart counts only between names of six letters or more:
		// short ones ("here", "there") are one letter apart by chance.
		if sk == osk && label != ol || utf8.RuneCountInString(osk) >= 6 && utf8.RuneCountInString(sk) >= 6 && nearMiss(sk, osk) {
			return o
		}
	}
	return ""
}

// skeleton2 is skeleton of an ASCII label or a Unicode one (punycode
// decoded), so "xn--pypal-4ve.com" compares as "pаypal".
func skeleton2(s string) string {
	if strings.HasPrefix(s, "xn--") {
		if u, err := idna.Display.ToUnicode(s); err == nil {
			s = u
		}
	}
	return skeleton(s)
}

// words splits s into its words, each folded to its skeleton.
func words(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '&' && r != '\'' }) {
		if sk := skeleton(strings.Trim(w, "&'")); sk != "" {
			out = append(out, sk)
		} else if w == "&" {
			out = append(out, "&")
		}
	}
	return out
}

// judgeHTML looks at the forms of the message's HTML and at attached HTML
// files.
func (a *Analyzer) judgeHTML(f *finding, m *analyzers.Message, fromDom string) {
	if m.HTML != "" {
		s := scanHTML(m.HTML)
		if s.forms > 0 {
			f.add(Form, fmt.Sprintf("%d form(s)", s.forms))
		}
		if s.password {
			f.add(PasswordField)
		}
		if s.hidden >= minHiddenText {
			f.add(HiddenText, fmt.Sprintf("%d characters", s.hidden))
		}
		if s.images > 0 && s.linkedImages > 0 && strings.TrimSpace(m.Text) == "" && len(strings.Fields(htmlText(m))) < maxImageOnlyWords {
			f.add(ImageOnly, fmt.Sprintf("%d image(s)", s.images))
		}
	}
	for _, l := range m.Links {
		if l.Kind != analyzers.LinkFormAction {
			continue
		}
		if h, ok := parseHost(l.URL); ok && h.reg != fromDom {
			f.add(FormElsewhere, h.display)
		}
	}
	for _, p := range m.Attachments {
		if !isHTMLFile(p) {
			continue
		}
		s := scanHTML(partText(p))
		var why []string
		if s.forms > 0 {
			why = append(why, "form")
		}
		if s.password {
			why = append(why, "password field")
			f.add(PasswordField, p.Filename)
		}
		if s.redirect {
			why = append(why, "redirect")
		}
		if s.script {
			why = append(why, "script")
		}
		if len(why) > 0 {
			name := p.Filename
			if name == "" {
				name = "part " + p.Path
			}
			f.add(HTMLAttachment, name+": "+strings.Join(why, ", "))
		}
	}
}

// Bounds of the HTML symbols: newsletters hide a preview line of a
// hundred characters or so, and their visible text is longer than a few
// words.
const (
	minHiddenText     = 300
	maxImageOnlyWords = 12
)

type htmlScan struct {
	forms        int
	password     bool
	hidden       int // characters of text inside hidden elements
	images       int
	linkedImages int  // images inside a link
	redirect     bool // a meta refresh to elsewhere
	script       bool // a script that navigates, decodes or writes a page
}

var navigatingScript = regexp.MustCompile(`(?i)(window\.)?location(\.href|\.replace|\.assign)?\s*[=(]|window\.open\s*\(|atob\s*\(|document\.write\s*\(|unescape\s*\(|eval\s*\(|fetch\s*\(|XMLHttpRequest`)

func scanHTML(s string) htmlScan {
	var out htmlScan
	z := html.NewTokenizer(strings.NewReader(s))
	inScript := false
	inAnchor := false
	// hidden holds the open elements' hidden flags; text counts as hidden
	// when any open element hides it. Void and unclosed elements make this
	// approximate, which is enough for a count.
	var hidden []bool
	hiddenDepth := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out
		case html.TextToken:
			if inScript && navigatingScript.Match(z.Text()) {
				out.script = true
			}
			if hiddenDepth > 0 && !inScript {
				out.hidden += len(strings.TrimSpace(string(z.Text())))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Script:
				inScript = false
			case atom.A:
				inAnchor = false
			}
			if n := len(hidden); n > 0 && !voidElement(atom.Lookup(name)) {
				if hidden[n-1] {
					hiddenDepth--
				}
				hidden = hidden[:n-1]
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			tag := atom.Lookup(name)
			attrs := map[string]string{}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			if tt == html.StartTagToken && !voidElement(tag) {
				h := hidesText(attrs["style"]) || attrs["hidden"] != "" || hasAttr(attrs, "hidden")
				hidden = append(hidden, h)
				if h {
					hiddenDepth++
				}
			}
			switch tag {
			case atom.A:
				inAnchor = tt == html.StartTagToken
			case atom.Img:
				out.images++
				if inAnchor {
					out.linkedImages++
				}
			case atom.Form:
				out.forms++
			case atom.Input:
				if strings.EqualFold(strings.TrimSpace(attrs["type"]), "password") {
					out.password = true
				}
			case atom.Meta:
				if strings.EqualFold(attrs["http-equiv"], "refresh") && strings.Contains(strings.ToLower(attrs["content"]), "url=") {
					out.redirect = true
				}
			case atom.Script:
				inScript = tt == html.StartTagToken
			}
		}
	}
}

func hasAttr(attrs map[string]string, k string) bool {
	_, ok := attrs[k]
	return ok
}

func voidElement(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

var hidingStyle = regexp.MustCompile(`(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01](\.\d+)?\s*(px|pt)?\s*(;|$|!)|max-height\s*:\s*0(px)?\s*(;|$|!)`)

// hidesText says whether an inline style hides what is inside.
func hidesText(style string) bool {
	return style != "" && hidingStyle.MatchString(style)
}

// credentialPhrases are what credential-harvesting mail says to make the
// reader log in at once, in the languages phishing most often arrives in.
var credentialPhrases = newPhrase(`(?i)` + strings.Join([]string{
	`\b(verify|confirm|validate|update|reactivate|restore|unlock|secure|re-?activate)\s+(your|the|this)\s+(account|identity|e-?mail|information|details|wallet|mailbox|payment|billing|card|password|login|access)`,
	`\b(account|mailbox|wallet|card|profile|access)\b[^.\n]{0,40}\b(suspend|lock|limit|disabl|deactivat|restrict|terminat|on hold|block|clos|expir|delet)`,
	`\b(limited|locked|suspended|restricted|disabled|blocked|frozen)\s+(account|wallet|card)\b`,
	`\b(unusual|suspicious|unauthori[sz]ed|unrecogni[sz]ed)\s+(sign[- ]?in|log[- ]?in|activity|access|transaction|attempt)`,
	`\bpassword\s+(will\s+)?(expire|reset|change)`,
	`\b(re-?enter|enter|provide)\s+your\s+(password|credentials|login|pin|card)`,
	`\b(seed|recovery|secret)\s+phrase`,
	`\b(sign|log)\s?in\s+to\s+(view|access|read|open|continue|confirm|verify|restore|keep)`,
	`\b(mailbox|storage|e-?mail)\s+(is\s+)?(full|almost full|quota|over quota)`,
	`\b(pending|undelivered|held|blocked)\s+(messages|e-?mails|mails|incoming)`,
	`\b(claim|collect|redeem)\s+(your|the)\s+(reward|prize|refund|gift|bonus|points)`,
	`\byou('ve| have)\s+(won|been selected|been chosen)`,
	`\b(final|last)\s+(notice|reminder|warning)`,
	`\bkonto\b[^.\n]{0,40}\b(gesperrt|eingeschr[äa]nkt|deaktiviert|gesperrt)`,
	`\b(best[äa]tigen|verifizieren|aktualisieren)\s+sie\s+(ihr|ihre|jetzt)`,
	`\b(sua|seu)\s+(conta|cart[ãa]o|cadastro)\b[^.\n]{0,40}\b(bloque|suspen|expir|desativ)`,
	`\b(atualize|confirme|valide)\s+(seus|sua|seu)\s+(dados|cadastro|conta)`,
	`\bpontos\b[^.\n]{0,60}\bexpira`,
	`\b(su|tu)\s+cuenta\b[^.\n]{0,40}\b(bloquead|suspendid|desactivad)`,
	`\bvotre\s+compte\b[^.\n]{0,40}\b(bloqu|suspendu|d[ée]sactiv|expir)`,
}, "|"))

// lurePhrases are the baits of prize, survey, parcel-fee and payment
// scams, in the languages they most often arrive in.
var lurePhrases = newPhrase(`(?i)` + strings.Join([]string{
	`\b(you('ve| have)\s+won|winner|congratulations|claim\s+(your|now)|free\s+gift|gift\s*card|your\s+reward|rewards?\s+(are|is)\s+(ready|waiting)|take\s+(our|this|the)\s+survey|survey\s+(for|and)\s+(a|your)\s+reward)`,
	`\b(package|parcel|shipment|delivery)\b[^.\n]{0,40}\b(held|on hold|pending|failed|could not be|waiting|unpaid|customs)`,
	`\b(customs|delivery|shipping)\s+(fee|charge|duty)`,
	`\b(gewinnen|gewinnspiel|gewonnen|gutschein|pr[äa]mie|freispiele|gratis|umfrage|gl[üu]ckwunsch)`,
	`\b(paket|sendung)\b[^.\n]{0,40}\b(wartet|zugestellt|zur[üu]ckgehalten|zollgeb)`,
	`\b(parab[ée]ns|pr[êe]mio|ganhou|resgat|brinde|b[ôo]nus\s+(de|gr[áa]tis|exclusivo)|bônus|pontos)`,
	`\b(free\s+spins|welcome\s+bonus|no\s+deposit|willkommensbonus|einzahlung|casino|jackpot|mystery\s+box|coffret\s+myst[èe]re|sondage|r[ée]clamer)`,
	`\b(encomenda|pedido|mercadoria|pacote)\b[^.\n]{0,40}\b(retid|taxad|bloquead|aguard)`,
	`\b(taxa|tributo|multa|cnh|cpf)\b[^.\n]{0,40}\b(pendente|atras|regulariz|bloquei|suspens)`,
	`\b(premio|ganador|regalo|gratis|sorpresa)\b`,
	`\b(gagnant|cadeau|gratuit|f[ée]licitations|colis)\b`,
	`\b(gewonnen|winnaar|cadeau)\b`,
	`\b(viagra|cialis|levitra|online\s+pharmacy)\b`,
	`\blooking\s+for\s+(a\s+)?(lover|sex|hook-?up|fling|affair)|\bsex\s*-?dat(e|es|ing)\b|\b(lonely|horny)\s+(wom[ae]n|girls|housewi|singles|milf)|\b(nude|naked|naakt|nackt|nua)\s*-?(foto|photo|pic|bild)|\bnaaktfoto|\bnacktbild|\bfotos?\s+(nuas|[íi]ntimas)`,
}, "|"))

// callToAction is link text that asks the reader to log in or hand over
// something. "Update" counts only with what is to be updated: every
// newsletter offers to "update your preferences".
var callToAction = regexp.MustCompile(`(?i)^\W*((verify|confirm|log ?in|sign ?in|unlock|validate|restore|reactivate|secure|claim|review|access)\b|update\s+(your\s+|the\s+)?(account|payment|billing|card|details|information|password|data)\b|(view|open|download|play|read)\s+(the\s+|your\s+)?(document|file|pdf|invoice|message|voicemail|statement|fax|attachment))`)

// judgeWords adds CredentialWords when the mail's words press for a login
// and it has links that lead off the sender's domain.
// credentialHits are the credential phrases in the text, at most 20.
func credentialHits(w *scanned) []string {
	re := credentialPhrases.forText(w)
	if re == nil {
		return nil
	}
	return re.FindAllString(w.text, 20)
}

func (a *Analyzer) judgeWords(f *finding, m *analyzers.Message, links []judged, fromDom string, off []judged) {
	text := readText(m, m.Text)
	// Names of attached files speak too ("Mining.balance.0.74.BTC.pdf"),
	// and underscores and dots join words to slip them past filters
	// ("Your_transfer_BTC").
	for _, p := range m.Attachments {
		text += "\n" + p.Filename
	}
	text = wordJoiners.Replace(text)
	w := scanText(text)
	// Scams that want an answer rather than a click have no link.
	if kinds := kindsMatched(scamPhrases, w); len(kinds) >= minScamPhrases {
		f.addScore(ScamWords, float64(min(len(kinds)-minScamPhrases, 2)), kinds...)
	}
	if hit := paymentPhrases.find(w); hit != "" {
		f.payment = foldHit(hit)
	}
	if archive := archiveName(m); archive != "" && archivePassword.MatchString(text) {
		f.add(ArchivePassword, archive)
	}
	asksToCall := callWords.matches(w)
	if !asksToCall && !slices.ContainsFunc(links, func(l judged) bool { return l.web && clickable(l.Kind) }) {
		// With no link to follow, "contact our support team at <number>"
		// leaves the reader nothing but a call, whatever the verb.
		asksToCall = contactNumber.matches(w)
	}
	if (freemail[fromDom] || len(off) == 0) && asksToCall && callReasons.mayMatch(w) && callNumber.MatchString(text) {
		if reason := callReasons.findIn(text, w); reason != "" {
			f.add(Callback, foldHit(reason))
		}
	}
	if len(off) == 0 {
		return
	}
	var found []string
	for _, hit := range credentialHits(w) {
		found = append(found, foldHit(hit))
	}
	for _, l := range off {
		if l.Kind == analyzers.LinkHref && callToAction.MatchString(l.Text) {
			found = append(found, "link: "+short(l.Text))
		}
	}
	if len(found) > 0 {
		f.add(CredentialWords, found...)
	}
	if lures := distinctHits(lurePhrases, text, w, maxOptions); len(lures) > 0 {
		f.add(LureWords, lures...)
	}
	if p := distinctHits(pressurePhrases, w.lower, w, maxOptions); len(p) > 0 {
		f.add(Pressure, p...)
	}
}

// judgeBEC adds PaymentRequest when the text asks for money to be moved
// and the sender is not what it seems: an internal address answered
// elsewhere, a freemail Reply-To, a look-alike of the mailbox's own domain,
// an organisation writing from a freemail account. Payment words alone are
// every invoice and remittance advice; with one of those, they are the
// business email compromise that costs organisations the most.
func judgeBEC(f *finding) {
	if f.payment == "" {
		return
	}
	for _, sym := range []string{InternalReplyOffsite, ReplyToFreemail, FromLookalikeOwn, FreemailOrg} {
		if f.has(sym) {
			f.add(PaymentRequest, f.payment)
			return
		}
	}
}

// judgeSender looks at the From, Reply-To, Return-Path and Subject.
func (a *Analyzer) judgeSender(f *finding, m *analyzers.Message, from *mail.Address, fromDom string, own []string) {
	h := &m.Header
	if from != nil {
		name := from.Name
		if b := a.brandInName(name); b != nil && !b.domains[fromDom] {
			f.add(DisplayNameBrand, "name="+b.name, "from="+fromDom)
		} else if freemail[fromDom] && isOrgName(name) {
			f.add(FreemailOrg, "name="+short(name), "from="+fromDom)
		}
		if !strings.Contains(name, "@") {
			for _, tok := range strings.Fields(name) {
				if shown := shownHost(strings.Trim(tok, "()[]<>,;:\"'")); shown != "" && shown != fromDom && !a.sameBrand(shown, fromDom) {
					f.add(DisplayNameDomain, "shown="+shown, "from="+fromDom)
					break
				}
			}
		}
		if fh, ok := parseHost("http://" + domainOf(from.Address)); ok && fromDom != "" {
			if b, how := a.brandLookalike(fh); how == "lookalike" {
				f.add(FromLookalike, fromDom+"~"+b)
			}
			if o := lookalikeOf(fromDom, own); o != "" {
				f.add(FromLookalikeOwn, fromDom+"~"+o)
			}
		}
		for _, rt := range h.ReplyTo {
			rd := analyzers.RegisteredDomain(domainOf(rt.Address))
			// Mail from the mailbox's own organisation is answered there;
			// a colleague whose replies go to another domain is how CEO
			// fraud keeps the real colleague out of the conversation.
			if rd != "" && slices.Contains(own, fromDom) && !slices.Contains(own, rd) && !a.sameBrand(rd, fromDom) {
				f.add(InternalReplyOffsite, "from="+fromDom, "reply-to="+rd)
			}
			if !freemail[rd] || a.sameBrand(rd, fromDom) && rd != fromDom {
				continue
			}
			if rd != fromDom {
				f.add(ReplyToFreemail, "reply-to="+rd, "from="+fromDom)
				break
			}
			// Another mailbox at the same provider: the sender writes from
			// one throw-away address and reads answers at the next.
			if !strings.EqualFold(rt.Address, from.Address) {
				f.add(ReplyToFreemail, "reply-to="+strings.ToLower(rt.Address), "from="+strings.ToLower(from.Address))
				break
			}
		}
		if rp := domainOf(h.ReturnPath); rp != "" && fromDom != "" {
			if rd := analyzers.RegisteredDomain(rp); rd != fromDom && !a.sameBrand(rd, fromDom) {
				f.add(ReturnPathOther, "return-path="+rd, "from="+fromDom)
			}
		}
		if obfuscated(name) {
			f.add(ObfuscatedHeader, "from name: "+short(name))
		}
	}
	// Disguising the very words filters look for (a brand's name, "account
	// locked") is no accident of style: the symbol then counts more.
	if obfuscated(h.Subject) {
		f.add(ObfuscatedHeader, "subject: "+short(h.Subject))
		if hit := hiddenCredential(h.Subject); hit != "" {
			f.addScore(ObfuscatedHeader, disguisedWordsExtra, "reads: "+hit)
		}
	} else if w := a.disguisedBrand(h.Subject); w != "" {
		f.addScore(ObfuscatedHeader, disguisedWordsExtra, "subject: "+w)
	}
	subj := strings.ToLower(h.Subject)
	for _, l := range [][]*mail.Address{h.To, h.Cc} {
		for _, ad := range l {
			if linkInName.MatchString(ad.Name) {
				f.add(RecipientNameLink, short(ad.Name))
			}
			if addr := strings.ToLower(ad.Address); strings.Contains(addr, "@") && strings.Contains(subj, addr) {
				f.add(RecipientSubject, addr)
			}
		}
	}
}

// brandInName returns the brand a display name claims: one of its names
// as whole words, after folding look-alike letters and joining letters
// spaced out ("C o i n b a s e").
func (a *Analyzer) brandInName(name string) *brand {
	if name == "" {
		return nil
	}
	w := joinSpaced(words(withoutInvisible(name)))
	for i := range a.brands {
		b := &a.brands[i]
		for _, bw := range b.words {
			if !containsRun(w, bw) {
				continue
			}
			if len(bw) == 1 && commonWordBrands[bw[0]] && !onlyBrandAndOrg(w, bw[0]) {
				continue
			}
			return b
		}
	}
	return nil
}

// commonWordBrands are brand names that are also everyday words ("The
// Quiet Ledger", "Steam Engine Club"): in a display name they count only
// beside words of a service desk ("Ledger Support", "Apple"), and never
// inside a longer word of a host name.
// The sets hold skeletons, as words() makes them.
var commonWordBrands = skeletonSet("ledger", "steam", "chase", "apple", "meta", "outlook",
	"norton", "kraken", "proton", "hermes", "caixa", "exodus")

// onlyBrandAndOrg says whether every word of a display name other than
// the brand's is one an organisation's desk uses.
func onlyBrandAndOrg(ws []string, brand string) bool {
	for _, w := range ws {
		if w != brand && !deskWords[w] {
			return false
		}
	}
	return true
}

var deskWords = skeletonSet(append(slices.Collect(maps.Keys(orgWords)), slices.Collect(maps.Keys(serviceWords))...)...)

func skeletonSet(ws ...string) map[string]bool {
	out := make(map[string]bool, len(ws))
	for _, w := range ws {
		out[skeleton(w)] = true
	}
	return out
}

// serviceWords are further words of brand impersonations' display names.
var serviceWords = map[string]bool{
	"id": true, "wallet": true, "live": true, "pay": true, "store": true, "mail": true,
	"online": true, "info": true, "noreply": true, "no": true, "reply": true, "center": true,
	"centre": true, "help": true, "care": true, "client": true, "clients": true, "your": true,
	"my": true, "secure": true, "verify": true, "update": true, "for": true, "business": true,
}

// joinSpaced joins runs of three or more one-letter words, the way
// "P a y P a l" hides a name from word filters.
func joinSpaced(ws []string) []string {
	var out []string
	for i := 0; i < len(ws); {
		j := i
		for j < len(ws) && utf8.RuneCountInString(ws[j]) == 1 {
			j++
		}
		if j-i >= 3 {
			out = append(out, strings.Join(ws[i:j], ""))
			i = j
			continue
		}
		out = append(out, ws[i])
		i++
	}
	return out
}

func containsRun(ws, run []string) bool {
	for i := 0; i+len(run) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// obfuscated says whether a header text is written to slip past filters:
// a word mixing scripts ("Pаypal" with a Cyrillic а), mathematical letter
// forms, invisible characters or foreign accents between the letters, or
// a word spelled out letter by letter.
func obfuscated(s string) bool {
	if fancyLetters(s) {
		return true
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if mixedScript(w) {
			return true
		}
	}
	if hiddenMarks(s) {
		return true
	}
	spaced := 0
	for _, w := range strings.Fields(s) {
		if utf8.RuneCountInString(w) == 1 && unicode.IsLetter([]rune(w)[0]) {
			spaced++
			if spaced >= 5 {
				return true
			}
		} else {
			spaced = 0
		}
	}
	return false
}

// historyKey is "<mailbox>.<domain>" in the characters KV keys allow.
func historyKey(mailbox, domain string) string {
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				return r
			}
			return '_'
		}, s)
		for strings.Contains(s, "..") {
			s = strings.ReplaceAll(s, "..", ".")
		}
		if s = strings.Trim(s, "."); s == "" {
			s = "_"
		}
		return s
	}
	return clean(mailbox) + "." + clean(domain)
}

// hiddenMarks says whether s hides characters between its letters that
// a reader does not see but a word filter does: zero-width spaces and
// joiners' kin (U+200B, U+200C, U+2060, U+FEFF) next to a letter, or
// combining marks of another script on Latin letters ("Aܿcܿcܿoܿuܿnܿt" with
// Syriac marks). Accents written as combining marks belong to the
// Inherited script and do not count.
func hiddenMarks(s string) bool {
	var prev rune
	foreign := 0
	for _, r := range s {
		switch {
		case unseen(r):
			if unicode.IsLetter(prev) {
				return true
			}
		case unicode.Is(unicode.Mn, r) && !unicode.Is(unicode.Inherited, r) && unicode.Is(unicode.Latin, prev):
			foreign++
			if foreign >= 2 {
				return true
			}
		}
		if !unicode.Is(unicode.Mn, r) && !invisible(r) {
			prev = r
		}
	}
	return false
}

// disguisedWordsExtra is added to ObfuscatedHeader when what the
// disguise hides is a brand's name or a credential phrase.
const disguisedWordsExtra = 2

// hiddenCredential returns the credential phrase a disguised header reads
// as once its disguise is taken off, or "".
func hiddenCredential(s string) string {
	return credentialPhrases.re.FindString(plainHeader(s))
}

// plainHeader is a header text as the reader sees it: marks and invisible
// characters between the letters dropped, look-alike and mathematical
// letters read as the Latin letters they imitate, letters spaced out
// joined into their word; lower-cased.
func plainHeader(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || unseen(r):
			continue
		case r > unicode.MaxASCII && unicode.IsLetter(r):
			if sk := confusables.Skeleton(string(r)); len(sk) == 1 && sk[0] < utf8.RuneSelf {
				r = rune(sk[0])
			}
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return strings.Join(joinSpaced(strings.Fields(sb.String())), " ")
}

// invisible says whether r is a character that shows nothing and has no
// use inside a Latin word: variation selectors of the supplement (U+E0100
// on; those of emoji are U+FE0F and do not count), tag characters, the
// invisible operators, the combining grapheme joiner and the Hangul
// fillers. Put between letters ("I\U000E0139RS Tax") they hide a word
// from filters and leave it readable. Tag characters also spell the
// flags of regions, after a black flag, which is no letter.
func invisible(r rune) bool {
	return r >= 0xE0000 && r <= 0xE007F || r >= 0xE0100 && r <= 0xE01EF || r >= 0x2061 && r <= 0x2064 ||
		r == 0x034F || r == 0x115F || r == 0x1160 || r == 0x3164 || r == 0xFFA0 || r == 0x180E
}

// unseen says whether r shows nothing: a zero-width space or one of its
// kin (U+200B, U+200C, U+2060, U+FEFF), or an invisible character.
func unseen(r rune) bool {
	return r == 0x200B || r == 0x200C || r == 0x2060 || r == 0xFEFF || invisible(r)
}

// withoutInvisible drops the invisible characters from s, so that a name
// is read as the reader sees it.
func withoutInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if unseen(r) {
			return -1
		}
		return r
	}, s)
}

// disguisedBrand returns a word of s that is a brand's name written with
// look-alike letters ("PayPaI" with a capital I), or "". The brand's own
// spelling in any case does not count.
func (a *Analyzer) disguisedBrand(s string) string {
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`.,;:!?"'()[]<>/`, r) }) {
		if utf8.RuneCountInString(w) < 5 {
			continue
		}
		sk := skeleton(w)
		lower := strings.ToLower(w)
		for _, b := range a.brands {
			for i, l := range b.labels {
				if len(l) >= 5 && sk == l && lower != b.plain[i] {
					return w
				}
			}
		}
	}
	return ""
}

// isReport says whether a message is a mail system's report
// (multipart/report: a bounce, a read receipt, an abuse report). The URLs
// written in its text are the mail system's diagnostics, hosts and
// addresses it tried, and the message it returns is the reader's own,
// so only the links of the report's first part's HTML are judged.
func isReport(m *analyzers.Message) bool {
	ct := strings.ToLower(strings.TrimSpace(m.Header.Get("Content-Type")))
	return strings.HasPrefix(ct, "multipart/report")
}

// hostedPage says whether a host is on a service where anyone can publish
// a page: the hosting list, or an Amazon S3 bucket served as a website
// (<bucket>.s3-website-<region>.amazonaws.com, <bucket>.s3-website.<region>…).
func (a *Analyzer) hostedPage(host string) bool {
	return matchesAny(host, a.hosting) || strings.HasSuffix(host, ".amazonaws.com") && strings.Contains(host, ".s3-website")
}
