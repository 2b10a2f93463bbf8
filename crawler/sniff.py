"""What a response's bytes say that its headers do not: an HTML page served without its type
(the WHATWG MIME Sniffing rules for HTML).

Pure: bytes in, a type out.
"""

from __future__ import annotations

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
