"""Link extraction from HTML with selectolax's lexbor parser."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser
from yarl import URL

from crawler.models import Target
from crawler.urls import LinkResolver, resolve_link

LINK_TAGS = ("a", "area")
NOFOLLOW_DIRECTIVES = frozenset({"nofollow", "none"})


def extract_links(body: bytes, page_url: str, *, obey_nofollow: bool = True) -> list[Target]:
    """Canonical http(s) links of an HTML page, each once: `<a href>` in document order,
    then `<area href>`. Relative links resolve against `<base href>` when it is usable.

    With `obey_nofollow`, a page whose `<meta name="robots">` says nofollow (or none) gives no
    links, and links marked `rel="nofollow"` are left out.
    """
    tree = LexborHTMLParser(body)
    if obey_nofollow and _meta_says_nofollow(tree):
        return []
    resolver = LinkResolver(_base_url(tree, URL(page_url, encoded=True)))
    seen: set[str] = set()
    links: list[Target] = []
    for tag in LINK_TAGS:
        # tags() walks the tree without the CSS engine: a third of the cost of css("a[href]").
        for node in tree.tags(tag):
            attributes = node.attributes  # one dict for both lookups: cheaper than .attrs twice
            href = attributes.get("href")
            if not href:
                continue
            if obey_nofollow:
                rel = attributes.get("rel")
                if rel and "nofollow" in rel.lower():
                    continue
            target = resolver.resolve(href)
            if target is not None and target.url not in seen:
                seen.add(target.url)
                links.append(target)
    return links


def _meta_says_nofollow(tree: LexborHTMLParser) -> bool:
    for node in tree.tags("meta"):
        attributes = node.attrs
        if (attributes.get("name") or "").strip().lower() == "robots":
            directives = {d.strip().lower() for d in (attributes.get("content") or "").split(",")}
            if directives & NOFOLLOW_DIRECTIVES:
                return True
    return False


def header_says_nofollow(value: str | None, agent: str) -> bool:
    """Whether an X-Robots-Tag header value forbids following links for `agent`.

    Directives may be scoped to one crawler (`otherbot: nofollow`); those for others are ignored.
    """
    if not value:
        return False
    scope_applies = True
    for part in value.split(","):
        name, colon, rest = part.partition(":")
        directive = part
        if colon and " " not in name.strip() and name.strip().lower() not in NOFOLLOW_DIRECTIVES:
            scope_applies = name.strip().lower() == agent.lower()
            directive = rest
        if scope_applies and directive.strip().lower() in NOFOLLOW_DIRECTIVES:
            return True
    return False


def _base_url(tree: LexborHTMLParser, page_url: URL) -> URL:
    for node in tree.tags("base"):
        href = node.attrs.get("href")
        if href:
            target = resolve_link(page_url, href)
            return URL(target.url, encoded=True) if target is not None else page_url
    return page_url
