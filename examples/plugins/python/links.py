#!/usr/bin/python3
"""links: an example mailsift plugin in Python that judges a message's links.

It reads mailsift's parsed view (each link with the text the reader is
shown) and reports links that pretend to go somewhere else than they do:

  LINK_TEXT_MISMATCH  5  the text shows one site, the link goes to another
  LINK_USERINFO       4  a user name before the host (https://bank.example@evil.example/)
  LINK_SCRIPT         5  a javascript: or data: link the reader clicks
  LINK_IP_HOST        3  the host is an IP address, not a name
  LINK_PUNYCODE       2  a host label in punycode (xn--), where look-alike letters hide

Verdict: suspicious from a score of 4, malicious from 10 (--suspicious and
--malicious change them). Run it as mailsift runs it:

  mailsift plugin check --auto-mtls=false examples/plugins/python/links.py
"""

import argparse
import ipaddress
import re
import sys
from urllib.parse import urlsplit

import mailsift_plugin as mp
from mailsift_plugin import pb

SCORES = {
    "LINK_TEXT_MISMATCH": 5.0,
    "LINK_USERINFO": 4.0,
    "LINK_SCRIPT": 5.0,
    "LINK_IP_HOST": 3.0,
    "LINK_PUNYCODE": 2.0,
}

# What the reader may take for a web address in an anchor's text.
SHOWN_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?:[:/?#]|$)", re.I)


def host_of(url):
    """The host of a URL, lower case, without a trailing dot; '' when none."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def same_site(a, b):
    """Whether two hosts belong together: equal, or one below the other."""
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def findings(link):
    """The symbols one link earns."""
    url, text, kind = link.url.strip(), link.text.strip(), link.kind
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    out = []
    if kind in ("href", "form-action") and scheme in ("javascript", "data", "vbscript"):
        out.append("LINK_SCRIPT")
    if scheme not in ("http", "https", ""):
        return out
    host = host_of(url)
    try:
        if urlsplit(url).username is not None:
            out.append("LINK_USERINFO")
    except ValueError:
        pass
    if host and is_ip(host):
        out.append("LINK_IP_HOST")
    if any(label.startswith("xn--") for label in host.split(".")):
        out.append("LINK_PUNYCODE")
    if kind == "href" and host:
        m = SHOWN_HOST.match(text)
        if m and not same_site(m.group(1).lower(), host):
            out.append("LINK_TEXT_MISMATCH")
    return out


class Links(mp.Analyzer):
    name = "links"
    version = "1.0.0"
    doc = "links whose text shows another site, script links, IP and punycode hosts"
    needs = pb.INPUT_PARSED
    security = True

    def __init__(self, suspicious, malicious):
        self.suspicious = suspicious
        self.malicious = malicious

    def analyze(self, request):
        found = {}  # symbol -> options (the URLs), in first-seen order
        details = []
        links = request.message.links
        for link in links:
            for sym in findings(link):
                opts = found.setdefault(sym, [])
                if link.url not in opts:
                    opts.append(link.url)
                details.append({"symbol": sym, "url": link.url, "text": link.text, "part": link.part})
        symbols = [(sym, SCORES[sym], opts) for sym, opts in found.items()]
        score = sum(s for _, s, _ in symbols)
        verdict = pb.VERDICT_CLEAN
        if self.malicious and score >= self.malicious:
            verdict = pb.VERDICT_MALICIOUS
        elif self.suspicious and score >= self.suspicious:
            verdict = pb.VERDICT_SUSPICIOUS
        return mp.response(symbols, verdict=verdict, data={"links": len(links), "findings": details})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suspicious", type=float, default=4)
    ap.add_argument("--malicious", type=float, default=10)
    args = ap.parse_args()
    mp.serve(Links(args.suspicious, args.malicious))


if __name__ == "__main__":
    sys.exit(main())
