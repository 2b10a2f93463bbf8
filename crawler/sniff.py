"""What a response's bytes say that its headers do not: an HTML page served without its type
(the WHATWG MIME Sniffing rules for HTML), and a `<meta http-equiv="refresh">` redirect.

Pure: bytes in, answers out; cheap for the pages that have neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

HTML = "text/html"
# Types that say nothing of the content: a page sent with one of these is looked at.
UNKNOWN_TYPES = frozenset(
    {"application/octet-stream", "text/plain", "unknown/unknown", "application/unknown", "*/*"}
)
# WHATWG MIME Sniffing, "identifying a resource with an unknown MIME type": these, after
# leading whitespace, then a space or `>`, make a resource HTML.
_HTML_STARTS = tuple(
    pattern.encode()
    for pattern in (
        "<!DOCTYPE HTML", "<HTML", "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV", "<FONT",
        "<TABLE", "<A", "<STYLE", "<TITLE", "<B", "<BODY", "<BR", "<P", "<!--",
    )
)  # fmt: skip
_WHITESPACE = b"\t\n\x0c\r "
_SNIFF_BYTES = 512  # what the standard looks at
MAX_REFRESH_DELAY_S = 100.0  # a longer wait is a page that reloads, not a redirect (as Scrapy)
_REFRESH_SCAN_BYTES = 4096  # where a meta refresh is looked for (as Scrapy does)
_META = re.compile(rb"<meta\s[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([^\s=/>"']+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_REFRESH = re.compile(
    r"""\s*[0-9]*(?:\.[0-9.]*)?\s*[;,]?\s*(?:url\s*=\s*)?(?P<q>["']?)(?P<url>.*)""",
    re.IGNORECASE | re.DOTALL,
)


def sniffed_type(content_type: str | None, body: bytes, headers: Mapping[str, str]) -> str | None:
    """The type to take the response as: `text/html` if it was sent without a type, or with
    one that says nothing of it (unless `X-Content-Type-Options: nosniff`), and its first
    bytes are HTML's; else `content_type` as sent."""
    if content_type is not None:
        if content_type not in UNKNOWN_TYPES:
            return content_type
        if headers.get("X-Content-Type-Options", "").strip().lower() == "nosniff":
            return content_type
    return HTML if looks_like_html(body) else content_type


def looks_like_html(body: bytes) -> bool:
    head = body[:_SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip(_WHITESPACE)
    upper = head[:16].upper()
    for start in _HTML_STARTS:
        if upper.startswith(start) and head[len(start) : len(start) + 1] in (b" ", b">"):
            return True
    return False


def meta_refresh(body: bytes) -> tuple[float, str] | None:
    """The delay and URL of an HTML page's `<meta http-equiv="refresh" content="N; url=...">`
    (parsed as the HTML Standard's declarative refresh), or None if it has none with a URL."""
    end = _REFRESH_SCAN_BYTES
    if body.find(b"efresh", 0, end) < 0 and body.find(b"EFRESH", 0, end) < 0:
        return None  # nearly every page: two byte searches, no copy, no regex
    head = body[:end]
    for tag in _META.finditer(head):
        attributes = {
            name.lower(): (a or b or c or b"") for name, a, b, c in _ATTRIBUTE.findall(tag[0][5:-1])
        }
        if attributes.get(b"http-equiv", b"").strip().lower() != b"refresh":
            continue
        return _refresh(attributes.get(b"content", b"").decode("utf-8", "replace"))
    return None


def _refresh(content: str) -> tuple[float, str] | None:
    stripped = content.lstrip()
    digits = re.match(r"[0-9]*(?:\.[0-9.]*)?", stripped)
    if digits is None or not digits[0] or digits[0] == ".":
        return None
    delay = float(digits[0].split(".")[0] or 0)
    found = _REFRESH.fullmatch(stripped)
    if found is None:
        return None
    url = found["url"].strip()
    if found["q"] and found["q"] in url:
        url = url[: url.index(found["q"])]
    return (delay, url) if url else None
