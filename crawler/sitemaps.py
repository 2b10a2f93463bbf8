"""Sitemaps (sitemaps.org): the page URLs of a `<urlset>`, the children of a `<sitemapindex>`.

Pure parsing: no network.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the XML parser is imported by the first sitemap read: most crawls read none
    from xml.etree.ElementTree import Element, XMLPullParser

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


@dataclass
class Sitemap:
    """What one sitemap lists: pages, and (for an index) more sitemaps."""

    pages: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    error: str | None = None


def parse_sitemap(body: bytes) -> Sitemap:
    """Read a sitemap, plain or gzip-compressed; a broken one gives what was read and `error`.

    Only `<loc>` inside `<url>` (pages) or `<sitemap>` (child sitemaps) counts. Entities are
    not expanded beyond what expat allows, and at most 50 MB are decompressed.
    """
    from xml.etree.ElementTree import ParseError, XMLPullParser  # noqa: PLC0415 (see above)

    found = Sitemap()
    try:
        data = _gunzip(body) if body.startswith(_GZIP_MAGIC) else body
    except zlib.error as exc:
        found.error = f"bad gzip data: {exc}"
        return found
    parser: XMLPullParser[Element] = XMLPullParser(events=("end",))
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
            _collect(parser, found)
        parser.close()
        _collect(parser, found)
    except ParseError as exc:
        found.error = f"not a valid sitemap: {exc}"
    return found


def _collect(parser: XMLPullParser[Element], found: Sitemap) -> None:
    from xml.etree.ElementTree import Element  # noqa: PLC0415 (imported already: a dict lookup)

    for event in parser.read_events():
        element = event[-1] if isinstance(event, tuple) else None
        if not isinstance(element, Element):
            continue
        name = element.tag.rpartition("}")[2]
        if name not in ("url", "sitemap"):
            continue
        for child in element:
            if child.tag.rpartition("}")[2] == "loc" and child.text and child.text.strip():
                target = found.pages if name == "url" else found.sitemaps
                target.append(child.text.strip())
        element.clear()


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(body, MAX_SITEMAP_BYTES)
    return data
