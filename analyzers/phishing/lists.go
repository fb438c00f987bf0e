package phishing

// Brand is an organisation whose name phishers borrow: the names a
// display name or a host may show, and the registered domains that are
// really the organisation's.
type Brand struct {
	// Names are written as people write them ("PayPal", "Bank of
	// America"); matching ignores case, blanks, and look-alike letters.
	Names   []string `yaml:"names"`
	Domains []string `yaml:"domains"`
}

// defaultBrands are among the brands most often impersonated in phishing
// according to the security vendors' yearly reports, plus the large
// banks, carriers and wallets seen in public phishing collections.
var defaultBrands = []Brand{
	{Names: []string{"PayPal"}, Domains: []string{"paypal.com", "paypal.me", "paypal-communication.com", "paypalobjects.com", "paypal.de", "paypal.co.uk", "paypal.fr", "paypal.it", "paypal.es", "paypal.nl", "paypal.com.br", "paypal.ca", "paypal.com.au"}},
	{Names: []string{"Microsoft", "Office 365", "Microsoft 365", "OneDrive", "SharePoint", "Outlook"}, Domains: []string{"microsoft.com", "office.com", "office365.com", "live.com", "outlook.com", "hotmail.com", "microsoftonline.com", "onedrive.com", "msn.com", "azure.com", "microsoftstore.com", "skype.com", "xbox.com", "sharepoint.com", "sharepointonline.com", "office.net", "aka.ms", "microsoftonline-p.com"}},
	{Names: []string{"Apple", "iCloud", "iTunes", "Apple ID"}, Domains: []string{"apple.com", "icloud.com", "me.com", "mac.com", "itunes.com"}},
	{Names: []string{"Amazon", "Prime Video"}, Domains: []string{"amazon.com", "amazon.de", "amazon.co.uk", "amazon.fr", "amazon.it", "amazon.es", "amazon.ca", "amazon.co.jp", "amazon.com.br", "amazon.in", "amazon.nl", "primevideo.com", "a2z.com"}},
	{Names: []string{"Google", "Gmail", "YouTube"}, Domains: []string{"google.com", "gmail.com", "googlemail.com", "youtube.com", "google.de", "google.co.uk", "withgoogle.com"}},
	{Names: []string{"Facebook", "Meta", "Instagram", "WhatsApp"}, Domains: []string{"facebook.com", "facebookmail.com", "fb.com", "meta.com", "metamail.com", "instagram.com", "whatsapp.com", "messenger.com"}},
	{Names: []string{"Netflix"}, Domains: []string{"netflix.com", "netflix.net"}},
	{Names: []string{"LinkedIn"}, Domains: []string{"linkedin.com", "lnkd.in"}},
	{Names: []string{"DHL"}, Domains: []string{"dhl.com", "dhl.de", "dhl.co.uk", "dhl.fr", "dhl-news.com"}},
	{Names: []string{"FedEx"}, Domains: []string{"fedex.com"}},
	{Names: []string{"UPS"}, Domains: []string{"ups.com"}},
	{Names: []string{"USPS"}, Domains: []string{"usps.com", "usps.gov"}},
	{Names: []string{"DocuSign"}, Domains: []string{"docusign.com", "docusign.net"}},
	{Names: []string{"Dropbox"}, Domains: []string{"dropbox.com", "dropboxmail.com"}},
	{Names: []string{"Adobe"}, Domains: []string{"adobe.com", "adobesign.com", "adobe.io"}},
	{Names: []string{"Wells Fargo"}, Domains: []string{"wellsfargo.com"}},
	{Names: []string{"Chase Bank", "JPMorgan Chase"}, Domains: []string{"chase.com", "jpmorgan.com", "jpmorganchase.com"}},
	{Names: []string{"Bank of America"}, Domains: []string{"bankofamerica.com", "bofa.com"}},
	{Names: []string{"American Express", "Amex"}, Domains: []string{"americanexpress.com", "aexp.com", "amex.com"}},
	{Names: []string{"Coinbase"}, Domains: []string{"coinbase.com"}},
	{Names: []string{"Binance"}, Domains: []string{"binance.com"}},
	{Names: []string{"MetaMask"}, Domains: []string{"metamask.io", "consensys.io", "consensys.net"}},
	{Names: []string{"Trust Wallet"}, Domains: []string{"trustwallet.com"}},
	{Names: []string{"Ledger"}, Domains: []string{"ledger.com"}},
	{Names: []string{"Kraken"}, Domains: []string{"kraken.com"}},
	{Names: []string{"Exodus", "Exodus Wallet"}, Domains: []string{"exodus.com", "exodus.io"}},
	{Names: []string{"Trezor"}, Domains: []string{"trezor.io"}},
	{Names: []string{"Venmo"}, Domains: []string{"venmo.com"}},
	{Names: []string{"Cash App"}, Domains: []string{"cash.app", "squareup.com"}},
	{Names: []string{"Zelle"}, Domains: []string{"zellepay.com"}},
	{Names: []string{"Walmart"}, Domains: []string{"walmart.com"}},
	{Names: []string{"Costco"}, Domains: []string{"costco.com"}},
	{Names: []string{"Best Buy"}, Domains: []string{"bestbuy.com"}},
	{Names: []string{"T-Mobile"}, Domains: []string{"t-mobile.com", "t-mobile.de", "telekom.de"}},
	{Names: []string{"AT&T"}, Domains: []string{"att.com", "att.net"}},
	{Names: []string{"Verizon"}, Domains: []string{"verizon.com", "verizonwireless.com"}},
	{Names: []string{"Norton"}, Domains: []string{"norton.com", "nortonlifelock.com", "gen.com"}},
	{Names: []string{"McAfee"}, Domains: []string{"mcafee.com"}},
	{Names: []string{"Spotify"}, Domains: []string{"spotify.com"}},
	{Names: []string{"Steam"}, Domains: []string{"steampowered.com", "steamcommunity.com"}},
	{Names: []string{"Booking.com"}, Domains: []string{"booking.com"}},
	{Names: []string{"Airbnb"}, Domains: []string{"airbnb.com"}},
	{Names: []string{"eBay"}, Domains: []string{"ebay.com", "ebay.de", "ebay.co.uk"}},
	{Names: []string{"Temu"}, Domains: []string{"temu.com"}},
	{Names: []string{"State Farm"}, Domains: []string{"statefarm.com"}},
	{Names: []string{"Kohl's", "Kohls"}, Domains: []string{"kohls.com"}},
	{Names: []string{"Sam's Club", "Sams Club"}, Domains: []string{"samsclub.com"}},
	{Names: []string{"Bradesco"}, Domains: []string{"bradesco.com.br", "bradescoseguros.com.br", "livelo.com.br"}},
	{Names: []string{"Banco do Brasil"}, Domains: []string{"bb.com.br"}},
	{Names: []string{"Itaú", "Itau"}, Domains: []string{"itau.com.br"}},
	{Names: []string{"Caixa"}, Domains: []string{"caixa.gov.br"}},
	{Names: []string{"Santander"}, Domains: []string{"santander.com", "santander.co.uk", "santander.de", "santander.com.br"}},
	{Names: []string{"HSBC"}, Domains: []string{"hsbc.com", "hsbc.co.uk"}},
	{Names: []string{"Sparkasse"}, Domains: []string{"sparkasse.de"}},
	{Names: []string{"Correos"}, Domains: []string{"correos.es"}},
	{Names: []string{"La Poste"}, Domains: []string{"laposte.fr", "laposte.net"}},
	{Names: []string{"Royal Mail"}, Domains: []string{"royalmail.com"}},
	{Names: []string{"DPD"}, Domains: []string{"dpd.com", "dpd.de", "dpd.co.uk"}},
	{Names: []string{"IRS"}, Domains: []string{"irs.gov"}},
	{Names: []string{"Proton", "ProtonMail", "Proton Mail"}, Domains: []string{"proton.me", "protonmail.com", "protonmail.ch", "pm.me"}},
	{Names: []string{"Nubank", "Nu Bank"}, Domains: []string{"nubank.com.br", "nu.com.br"}},
	{Names: []string{"Mercado Livre", "Mercado Pago", "Mercado Libre"}, Domains: []string{"mercadolivre.com.br", "mercadolibre.com", "mercadopago.com", "mercadopago.com.br"}},
	{Names: []string{"Correios"}, Domains: []string{"correios.com.br"}},
	{Names: []string{"Receita Federal", "gov.br"}, Domains: []string{"fazenda.gov.br", "www.gov.br", "economia.gov.br", "acesso.gov.br", "serpro.gov.br"}},
	{Names: []string{"Shein"}, Domains: []string{"shein.com", "sheinemail.com"}},
	{Names: []string{"PostNL"}, Domains: []string{"postnl.nl", "postnl.com"}},
	{Names: []string{"Deutsche Post"}, Domains: []string{"deutschepost.de", "dhl.de"}},
	{Names: []string{"Hermes"}, Domains: []string{"myhermes.de", "hermesworld.com", "hermes.de", "evri.com", "hermes.com"}},
	{Names: []string{"Swiss Post"}, Domains: []string{"post.ch", "swisspost.ch"}},
	{Names: []string{"Canada Post", "Postes Canada"}, Domains: []string{"canadapost.ca", "canadapost-postescanada.ca"}},
	{Names: []string{"HMRC"}, Domains: []string{"hmrc.gov.uk", "service.gov.uk", "www.gov.uk"}},
	{Names: []string{"TD Bank", "TD Direct Investing", "TD Canada Trust"}, Domains: []string{"td.com", "tdbank.com", "tdcanadatrust.com"}},
	{Names: []string{"Interac"}, Domains: []string{"interac.ca"}},
	{Names: []string{"OpenSea"}, Domains: []string{"opensea.io"}},
	{Names: []string{"Crypto.com"}, Domains: []string{"crypto.com"}},
	{Names: []string{"Edeka"}, Domains: []string{"edeka.de"}},
	{Names: []string{"Albert Heijn"}, Domains: []string{"ah.nl", "albertheijn.nl"}},
	{Names: []string{"Coolblue"}, Domains: []string{"coolblue.nl", "coolblue.be", "coolblue.de"}},
	{Names: []string{"Yves Rocher"}, Domains: []string{"yves-rocher.fr", "yves-rocher.com", "yves-rocher.de", "yves-rocher.ca", "yves-rocher.be", "yves-rocher.ch"}},
	{Names: []string{"Disney", "Disneyland"}, Domains: []string{"disney.com", "disneylandparis.com", "disneyplus.com", "disneyonline.com", "disneystore.com", "go.com"}},
	{Names: []string{"GitHub"}, Domains: []string{"github.com"}},
}

// defaultShorteners hide where a link leads until it is followed.
var defaultShorteners = []string{
	"bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
	"rebrand.ly", "cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc", "bit.do", "s.id",
	"v.gd", "shorte.st", "adf.ly", "tr.im", "x.co", "soo.gd", "qrco.de", "shrtco.de",
	"rebrandly.com", "short.io", "tiny.one", "u.to", "clck.ru", "urlz.fr", "ln.run",
	"hotm.art", "psee.io", "surl.li", "gg.gg", "shorturl.asia",
}

// defaultHosting are services where anyone can publish a page or a file
// under the service's domain, which is where credential pages are put so
// that the link shows a reputable domain. Entries match the host and its
// subdomains. Document and survey services that colleagues share in
// everyday mail (SharePoint, Google Docs, forms) are left out: the
// symbol would fire on every office's mail.
var defaultHosting = []string{
	"firebasestorage.googleapis.com", "storage.googleapis.com", "web.app", "firebaseapp.com",
	"appspot.com", "sites.google.com", "forms.gle", "blogspot.com", "weebly.com",
	"wixsite.com", "000webhostapp.com", "netlify.app", "vercel.app", "pages.dev",
	"workers.dev", "r2.dev", "glitch.me", "repl.co", "ipfs.io", "dweb.link", "ipfs.w3s.link",
	"azurewebsites.net", "blob.core.windows.net", "web.core.windows.net", "s3.amazonaws.com",
	"ngrok.io", "ngrok-free.app", "herokuapp.com", "square.site", "mystrikingly.com",
	"godaddysites.com", "webflow.io", "framer.app", "translate.goog", "onrender.com",
	"surge.sh", "canva.site", "backblazeb2.com", "digitaloceanspaces.com", "yolasite.com",
	"run.app", "cloudfunctions.net", "jimdosite.com", "typedream.app", "carrd.co", "webnode.page",
}

// defaultSenderHosting are services where anyone gets a mail domain of
// their own under the service's: cloud tenants' default domains and
// dynamic DNS. Mail from such a domain comes from whoever signed up that
// day; a company's real mail comes from its own domain. The hosting
// services above count too.
var defaultSenderHosting = []string{
	"onmicrosoft.com", "ddns.net", "duckdns.org", "no-ip.org", "no-ip.biz", "hopto.org",
	"zapto.org", "sytes.net", "servehttp.com", "serveftp.com", "myftp.org", "dynu.net",
	"freedns.org", "mooo.com", "dyndns.org", "dynv6.net", "localdomain", "localhost",
}

// abusedTLDs are top-level domains where most registrations seen in
// mail are abuse: cheap or free domains bought in bulk for one campaign.
// The list follows the TLDs with the highest share of abuse in the
// public reports of Spamhaus ("most abused TLDs") and Interisle
// ("Phishing Landscape") of 2023-2025; TLDs where abuse is a small share
// of much legitimate use (.info, .online, .app, .io) are left out.
var abusedTLDs = map[string]bool{
	"top": true, "xyz": true, "shop": true, "site": true, "store": true, "click": true,
	"link": true, "icu": true, "buzz": true, "cyou": true, "sbs": true, "cfd": true,
	"bond": true, "rest": true, "lol": true, "monster": true, "quest": true, "best": true,
	"fun": true, "space": true, "website": true, "club": true, "cam": true, "beauty": true,
	"hair": true, "skin": true, "makeup": true, "boats": true, "autos": true, "yachts": true,
	"mom": true, "bar": true, "uno": true, "win": true, "bid": true, "loan": true,
	"date": true, "racing": true, "download": true, "stream": true, "review": true,
	"party": true, "trade": true, "accountant": true, "science": true, "men": true,
	"gdn": true, "kim": true, "cricket": true, "faith": true, "country": true, "zip": true,
	"mov": true, "tk": true, "ml": true, "ga": true, "cf": true, "gq": true, "pw": true,
	"work": true, "life": true, "today": true, "live": true, "pics": true, "digital": true,
	"homes": true, "motorcycles": true, "lat": true, "christmas": true, "surf": true,
}

// imageHosts are services where anyone uploads a picture and gets a link
// to it. Mail services and shops serve their pictures from their own
// hosts or their mail service's; spam that has neither hot-links its
// pictures from these.
var imageHosts = []string{
	"imgur.com", "zupimages.net", "imgbox.com", "twimg.com", "postimg.cc", "postimg.org",
	"postimages.org", "ibb.co", "imgbb.com", "imageshack.com", "imageshack.us", "tinypic.com",
	"photobucket.com", "prnt.sc", "gyazo.com", "servimg.com", "casimages.com", "noelshack.com",
	"imagevenue.com", "pixhost.to", "freeimage.host", "iili.io", "imgpile.com", "lensdump.com",
	"imagebam.com", "fastpic.org", "radikal.ru", "hostingpics.net",
}

// freemail are mailbox providers anyone can sign up with.
var freemail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true,
	"live.com": true, "msn.com": true, "yahoo.com": true, "ymail.com": true, "aol.com": true,
	"icloud.com": true, "me.com": true, "mail.com": true, "gmx.com": true, "gmx.de": true,
	"gmx.net": true, "web.de": true, "yandex.ru": true, "yandex.com": true, "mail.ru": true,
	"protonmail.com": true, "proton.me": true, "zoho.com": true, "qq.com": true, "163.com": true,
	"126.com": true, "hotmail.co.uk": true, "yahoo.co.uk": true, "libero.it": true,
	"orange.fr": true, "free.fr": true, "t-online.de": true, "tutanota.com": true, "rediffmail.com": true,
	"naver.com": true, "outlook.de": true, "hotmail.fr": true, "yahoo.fr": true, "bol.com.br": true,
	"uol.com.br": true,
}
