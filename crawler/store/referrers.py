"""Broken links and the pages that refer to them, records by second and by depth: what `stats`
and `report` read beyond the counts, with the same SQL and the same assembly on every backend.

Each page's links are one row of `links`: its row id and the URLs it links to, one a line,
compressed (a row per page costs the crawl far less than a row per link). Only `crawler.store`
uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, final

from crawler.errors import BROKEN_LINK_KINDS
from crawler.models import BrokenLink, Outcome
from crawler.store.rows import HAS_RECORD

try:
    from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # Python 3.14+
except ImportError:
    from backports import zstd

_KINDS = ", ".join(f"'{kind}'" for kind in sorted(BROKEN_LINK_KINDS))
BROKEN = (
    f"SELECT url, status, error, parent FROM urls WHERE {HAS_RECORD} AND variant = ''"
    f" AND (status >= 400 OR error IN ({_KINDS})) ORDER BY id"
)
"""The broken links, in queue order."""
LINKING_PAGES = "SELECT urls.url, links.targets FROM links JOIN urls USING (id) ORDER BY id"
"""Each page with links kept, and them (see `linked_urls`), in queue order."""
RECORDS_BY_SECOND = (
    "SELECT substr(fetched_at, 1, 19) AS second, count(*) FROM urls"
    f" WHERE {HAS_RECORD} GROUP BY second"
)
RECORDS_BY_DEPTH = (
    f"SELECT depth, count(*) FROM urls WHERE {HAS_RECORD} GROUP BY depth ORDER BY depth"
)


@final
class LinkRows:
    """Makes the `links` rows of pages, compressed with zstd. One compression context serves
    every row: making one for each costs more than compressing a page's links."""

    def __init__(self) -> None:
        self._compressor = zstd.ZstdCompressor(level=1)

    def rows(self, outcomes: Sequence[Outcome]) -> list[tuple[int, bytes]]:
        """The rows of the pages that keep links, in id order."""
        compress, frame = self._compressor.compress, zstd.ZstdCompressor.FLUSH_FRAME
        return sorted(
            (outcome.request.id, compress("\n".join(outcome.linked).encode(), frame))
            for outcome in outcomes
            if outcome.linked and outcome.request.id is not None
        )


def linked_urls(targets: bytes) -> list[str]:
    """The URLs of a `links` row (canonical URLs hold no line break)."""
    return bytes(zstd.decompress(targets)).decode().split("\n")


@dataclass(slots=True)
class _Referred:
    url: str
    status: int | None
    error: str | None
    parent: str | None
    shown: list[str] = field(default_factory=list)
    count: int = 0


async def assemble_broken_links(
    broken: Sequence[Sequence[Any]],
    pages: AsyncIterator[Sequence[Any]] | None,
    *,
    referrers_per_link: int,
) -> list[BrokenLink]:
    """The rows of `BROKEN`, each with its referrers from the rows of `LINKING_PAGES` (None:
    a database older than `links`). A referrer is the page a URL was first found on (its
    parent, first: a sitemap or a redirect too), then every page that links to it, in queue
    order."""
    found = {url: _Referred(url, status, error, parent) for url, status, error, parent in broken}
    for referred in found.values():
        if referred.parent is not None:
            _add(referred, referred.parent, referrers_per_link)
    if found and pages is not None:
        async for page, targets in pages:
            for url in linked_urls(targets):
                target = found.get(url)
                if target is not None and page != target.parent:
                    _add(target, page, referrers_per_link)
    ranked = sorted(found.values(), key=lambda referred: -referred.count)
    return [BrokenLink(r.url, r.status, r.error, tuple(r.shown), r.count) for r in ranked]


def _add(referred: _Referred, page: str, limit: int) -> None:
    referred.count += 1
    if len(referred.shown) < limit:
        referred.shown.append(page)
