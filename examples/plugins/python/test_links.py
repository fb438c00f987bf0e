"""Unit tests of the links plugin's judgement, without mailsift:

    /usr/bin/python3 -m unittest discover -s examples/plugins/python
"""

import unittest

import links
from mailsift_plugin import pb


def link(url, text="", kind="href"):
    return pb.Link(url=url, text=text, kind=kind, part="1")


class Findings(unittest.TestCase):
    def test_links(self):
        cases = [
            (link("https://shop.example/a", "https://shop.example/a"), []),
            (link("https://www.shop.example/a", "shop.example"), []),
            (link("https://mail.shop.example/a", "https://shop.example"), []),
            (link("http://evil.example/login", "https://bank.example/login"), ["LINK_TEXT_MISMATCH"]),
            (link("http://evil.example/login", "Log in to your account"), []),
            (link("javascript:alert(1)", "click"), ["LINK_SCRIPT"]),
            (link("data:text/html;base64,AAAA", "", "form-action"), ["LINK_SCRIPT"]),
            (link("data:image/png;base64,AAAA", "", "src"), []),
            (link("http://192.0.2.1/pay", "pay"), ["LINK_IP_HOST"]),
            (link("http://[2001:db8::1]/pay", "pay"), ["LINK_IP_HOST"]),
            (link("https://xn--bnk-sna.example/", "bank"), ["LINK_PUNYCODE"]),
            (link("https://bank.example@evil.example/", "bank"), ["LINK_USERINFO"]),
            (link("https://[broken/", "x"), []),
        ]
        for l, want in cases:
            with self.subTest(url=l.url, text=l.text):
                self.assertEqual(links.findings(l), want)

    def test_analyze_scores_and_verdict(self):
        req = pb.AnalyzeRequest()
        req.message.links.extend([
            link("http://evil.example/login", "https://bank.example/login"),
            link("http://192.0.2.1/pay", "pay"),
            link("http://evil.example/login", "https://bank.example/again"),
        ])
        resp = links.Links(suspicious=4, malicious=10).analyze(req)
        self.assertEqual([s.name for s in resp.symbols], ["LINK_TEXT_MISMATCH", "LINK_IP_HOST"])
        self.assertEqual(resp.score, 8)
        self.assertEqual(resp.verdict, pb.VERDICT_SUSPICIOUS)
        self.assertEqual(list(resp.symbols[0].options), ["http://evil.example/login"])

    def test_no_links_is_clean(self):
        resp = links.Links(suspicious=4, malicious=10).analyze(pb.AnalyzeRequest())
        self.assertEqual(resp.verdict, pb.VERDICT_CLEAN)
        self.assertEqual(len(resp.symbols), 0)


if __name__ == "__main__":
    unittest.main()
