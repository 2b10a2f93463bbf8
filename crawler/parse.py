"""Link extraction from HTML with selectolax's lexbor parser, and the page-level robots
directives (rel=nofollow, robots meta tags, X-Robots-Tag).

Pure: bytes in, links and directives out; no network, no store.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import final

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.config import Politeness
from crawler.models import Target
from crawler.urls import LinkResolver, resolve_link

LINK_TAGS = ("a", "area")
NOFOLLOW_DIRECTIVES = frozenset({"nofollow", "none"})
NOINDEX_DIRECTIVES = frozenset({"noindex", "none"})
VALUED_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
META_SCAN_BYTES = 1024
DETECTION_BYTES = 64 * 1024
UTF8_NAMES = frozenset({"utf-8", "ascii"})
BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def extract_links(
    body: bytes,
    page_url: str,
    *,
    charset: str | None = None,
    obey_nofollow: bool = True,
    limit: int | None = None,
) -> PageLinks:
    """Canonical http(s) links of an HTML page, each once: `<a href>` in document order,
    then `<area href>`. Relative links resolve against `<base href>` when it is usable.

    With `obey_nofollow`, a page whose `<meta name="robots">` says nofollow (or none) gives no
    links, and links marked `rel="nofollow"` are left out. Past `limit` links, hrefs are only
    counted (in `dropped`), not resolved: a page of a million links costs little.
    """
    text, encoding = decode_html(body, charset)
    tree = LexborHTMLParser(text)
    return tree_links(tree, page_url, obey_nofollow=obey_nofollow, limit=limit, encoding=encoding)


class PageLinks(list[Target]):
    """A page's links, and how many hrefs past the limit were left out."""

    dropped: int = 0


def tree_links(
    tree: LexborHTMLParser,
    page_url: str,
    *,
    obey_nofollow: bool = True,
    nodes: Iterable[LexborNode] | None = None,
    limit: int | None = None,
    encoding: str | None = None,
) -> PageLinks:
    """`extract_links` on a parsed page; `nodes` (elements with an `href`) instead of the
    page's `<a>` and `<area>` elements if given; `encoding` the page's if not UTF-8 (queries
    are percent-encoded in it, as browsers do)."""
    links = PageLinks()
    if obey_nofollow and meta_says_nofollow(tree):
        return links
    resolver = LinkResolver(base_url(tree, page_url), encoding)
    collect = _LinkCollector(resolver, links, obey_nofollow=obey_nofollow, limit=limit)
    if nodes is not None:
        collect(nodes)
        return links
    for tag in LINK_TAGS:
        # tags() walks the tree without the CSS engine: a third of the cost of css("a[href]").
        collect(tree.tags(tag))
    return links


@final
class _LinkCollector:
    """Appends the targets of elements' hrefs to `links`, each URL once, up to `limit`."""

    def __init__(
        self, resolver: LinkResolver, links: PageLinks, *, obey_nofollow: bool, limit: int | None
    ) -> None:
        self._resolver = resolver
        self._seen: set[str] = set()
        self._links = links
        self._obey_nofollow = obey_nofollow
        self._limit = sys.maxsize if limit is None else limit

    def __call__(self, nodes: Iterable[LexborNode]) -> None:
        links, seen, resolve = self._links, self._seen, self._resolver.resolve
        obey_nofollow, limit = self._obey_nofollow, self._limit
        for node in nodes:
            attributes = node.attributes  # one dict for both lookups: cheaper than .attrs twice
            href = attributes.get("href")
            if not href:
                continue
            if obey_nofollow:
                rel = attributes.get("rel")
                if rel and "nofollow" in rel.lower():
                    continue
            if len(links) >= limit:
                links.dropped += 1
                continue
            target = resolve(href)
            if target is not None and target.url not in seen:
                seen.add(target.url)
                links.append(target)


def html_text(body: bytes, header_charset: str | None = None) -> bytes | str:
    """The page as the parser should read it (see `decode_html`)."""
    return decode_html(body, header_charset)[0]


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[bytes | str, str | None]:
    """The page as the parser should read it: the bytes themselves when they are UTF-8 (what
    lexbor reads bytes as), else the text decoded from the page's encoding; and the encoding
    its links' queries are percent-encoded in (None for UTF-8).

    The encoding is the HTTP header's charset, else a byte-order mark, else a `<meta>` charset
    in the first 1024 bytes, else UTF-8 if the bytes are valid UTF-8, else a guess by
    charset-normalizer. Undecodable bytes become U+FFFD; nothing here raises.
    """
    encoding = _declared_encoding(body, header_charset)
    if encoding is None:
        if body.isascii():
            return body, None
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            # Imported here: most pages never need a guess, and the import costs start-up time.
            import charset_normalizer  # noqa: PLC0415

            guess = charset_normalizer.from_bytes(body[:DETECTION_BYTES]).best()
            encoding = guess.encoding if guess is not None else "utf-8"
        else:
            return body, None
    if encoding in UTF8_NAMES:
        return body, None
    # The URL Standard encodes queries of UTF-16 and UTF-32 pages in UTF-8.
    query_encoding = None if encoding.startswith(("utf-16", "utf-32")) else encoding
    return body.decode(encoding, errors="replace"), query_encoding


def _declared_encoding(body: bytes, header_charset: str | None) -> str | None:
    for candidate in (header_charset, _bom_encoding(body), _meta_charset(body)):
        if candidate:
            try:
                return codecs.lookup(candidate).name
            except LookupError:
                continue
    return None


def _bom_encoding(body: bytes) -> str | None:
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return encoding
    return None


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body, 0, META_SCAN_BYTES)
    return found.group(1).decode("ascii") if found else None


def meta_says_nofollow(tree: LexborHTMLParser) -> bool:
    """Whether the page's robots meta tags forbid following its links."""
    return bool(meta_directives(tree) & NOFOLLOW_DIRECTIVES)


def meta_directives(tree: LexborHTMLParser) -> frozenset[str]:
    """The directives of the page's `<meta name="robots">` tags, lower-case."""
    found: set[str] = set()
    for node in tree.tags("meta"):
        attributes = node.attrs
        if (attributes.get("name") or "").strip().lower() == "robots":
            content = attributes.get("content") or ""
            found.update(directive.strip().lower() for directive in content.split(","))
    return frozenset(found)


def header_directives(value: str | None, agent: str) -> frozenset[str]:
    """The X-Robots-Tag directives that apply to `agent`, lower-case.

    A directive may be scoped to one crawler (`otherbot: nofollow`); those for others are left
    out. `unavailable_after: <date>` and `max-snippet: 20` are directives, not scopes.
    """
    if not value:
        return frozenset()
    found: set[str] = set()
    applies = True
    for part in value.split(","):
        name, colon, rest = part.partition(":")
        name = name.strip().lower()
        directive = part.strip().lower()
        if colon and name not in VALUED_DIRECTIVES and " " not in name:
            applies = name == agent.lower()
            directive = rest.strip().lower()
        if applies and directive:
            found.add(directive)
    return frozenset(found)


def header_says_nofollow(value: str | None, agent: str) -> bool:
    """Whether an X-Robots-Tag header value forbids following links for `agent`."""
    return bool(header_directives(value, agent) & NOFOLLOW_DIRECTIVES)


def meta_says_noindex(body: bytes, charset: str | None) -> bool:
    """Whether an HTML page's robots meta tags ask not to keep it (noindex or none)."""
    tree = LexborHTMLParser(html_text(body, charset))
    return bool(meta_directives(tree) & NOINDEX_DIRECTIVES)


def base_url(tree: LexborHTMLParser, page_url: str) -> str:
    """What the page's relative links resolve against: its usable `<base href>`, else its URL."""
    for node in tree.tags("base"):
        href = node.attrs.get("href")
        if href:
            target = resolve_link(page_url, href)
            return target.url if target is not None else page_url
    return page_url


@dataclass(frozen=True, slots=True)
class MetaRobots:
    """How pages' own robots directives (rel=nofollow, `<meta name="robots">`, X-Robots-Tag)
    are taken: obeyed or not, and the product token their per-agent lines may name."""

    obeyed: bool = True
    agent: str = "crawler"

    @classmethod
    def for_settings(cls, politeness: Politeness) -> MetaRobots:
        return cls(not politeness.ignore_robots_meta, product_token(politeness.user_agent))


def product_token(user_agent: str) -> str:
    """The name robots.txt groups match: `crawler/0.1.0 (...)` gives `crawler`."""
    return user_agent.split("/", 1)[0].split(" ", 1)[0] or user_agent


MAX_REFRESH_DELAY_S = 100.0  # a longer wait is a page that reloads, not a redirect (as Scrapy)
REFRESH_SCAN_BYTES = 4096  # where a meta refresh is looked for (as Scrapy does)
_ASCII_WHITESPACE = " \t\n\x0c\r"


def meta_refresh(body: bytes, page_url: str, charset: str | None = None) -> Target | None:
    """Where an HTML page's `<meta http-equiv="refresh">` in its first REFRESH_SCAN_BYTES
    sends the reader, if it does so within MAX_REFRESH_DELAY_S: resolved against the page's
    `<base href>` in its encoding; not one in a comment, a script or `<noscript>`."""
    end = REFRESH_SCAN_BYTES
    if body.find(b"efresh", 0, end) < 0 and body.find(b"EFRESH", 0, end) < 0:
        return None  # nearly every page: two byte searches, no parse
    text, encoding = decode_html(body[:end], charset)
    tree = LexborHTMLParser(text)
    for node in tree.css("meta[http-equiv]"):
        equiv = (node.attributes.get("http-equiv") or "").strip(_ASCII_WHITESPACE).lower()
        if equiv != "refresh" or _inside_noscript(node):
            continue
        refresh = refresh_target(node.attributes.get("content") or "")
        if refresh is None or refresh[0] >= MAX_REFRESH_DELAY_S:
            return None
        return resolve_link(base_url(tree, page_url), refresh[1], encoding)
    return None


def _inside_noscript(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == "noscript":
            return True
        parent = parent.parent
    return False


def refresh_target(content: str) -> tuple[float, str] | None:
    """The delay and URL of a refresh's `content` as the HTML Standard reads it ("shared
    declarative refresh steps"), or None if it is not one or names no URL."""
    rest = content.lstrip(_ASCII_WHITESPACE)
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if not digits and not rest.startswith("."):
        return None
    delay = float(rest[:digits] or 0)
    rest = rest[digits:].lstrip("0123456789.")
    if not rest or rest[0] not in ";," + _ASCII_WHITESPACE:
        return None  # no URL (the page reloads itself), or not a refresh (`1e5`)
    rest = rest.lstrip(_ASCII_WHITESPACE)
    rest = rest[1:] if rest[:1] in (";", ",") else rest
    rest = rest.lstrip(_ASCII_WHITESPACE)
    if rest[:3].lower() == "url":
        after = rest[3:].lstrip(_ASCII_WHITESPACE)
        if after.startswith("="):
            rest = after[1:].lstrip(_ASCII_WHITESPACE)
    if rest[:1] in ("'", '"'):
        quote, rest = rest[0], rest[1:]
        rest = rest.split(quote, 1)[0]
    url = rest.strip(_ASCII_WHITESPACE)
    return (delay, url) if url else None
