"""Link extraction from HTML with selectolax's lexbor parser."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser
from yarl import URL

from crawler.urls import Target, resolve_link

LINK_SELECTOR = "a[href], area[href]"


def extract_links(body: bytes, page_url: str) -> list[Target]:
    """Canonical http(s) links of an HTML page, in document order, each once.

    Relative links resolve against `<base href>` when the page has a usable one.
    """
    tree = LexborHTMLParser(body)
    base = _base_url(tree, URL(page_url))
    seen: set[str] = set()
    links: list[Target] = []
    for node in tree.css(LINK_SELECTOR):
        href = node.attributes.get("href")
        if not href:
            continue
        target = resolve_link(base, href)
        if target is not None and target.url not in seen:
            seen.add(target.url)
            links.append(target)
    return links


def _base_url(tree: LexborHTMLParser, page_url: URL) -> URL:
    node = tree.css_first("base[href]")
    if node is None:
        return page_url
    href = node.attributes.get("href")
    target = resolve_link(page_url, href) if href else None
    return URL(target.url, encoded=True) if target is not None else page_url
