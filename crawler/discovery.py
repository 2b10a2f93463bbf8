"""Discovery beyond links: the pages that the seed sites' sitemaps list.

It fetches only through the function it is given and queues only through `Storage`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import final

from crawler.frontier import Frontier
from crawler.models import CrawlRequest, DocumentResponse
from crawler.robots import RobotsCache
from crawler.sitemaps import Sitemap, parse_sitemap
from crawler.store import Storage
from crawler.urls import ScopePolicy, TrapLimits, parse_absolute, trap_reason

log = logging.getLogger("crawler")

MAX_SITEMAPS_PER_SITE = 1000


@final
class SitemapLoader:
    """Queues the pages that the seed sites' sitemaps list (in scope, within the limits)."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[DocumentResponse]],
        robots: RobotsCache | None,
        storage: Storage,
        *,
        scope: ScopePolicy,
        traps: TrapLimits,
    ) -> None:
        self._fetch = fetch
        self._robots = robots
        self._storage = storage
        self._scope = scope
        self._traps = traps

    async def load(self, origins: Iterable[str], frontier: Frontier) -> None:
        """Runs beside the workers; the frontier stays open until it is done."""
        frontier.expect()
        queued = 0
        try:
            for origin in dict.fromkeys(origins):
                queued += await self._load_site(origin)
        except Exception as exc:  # a task boundary: sitemaps are a bonus, never a failure
            log.warning("reading sitemaps failed: %r", exc, exc_info=exc)
        finally:
            frontier.settle(1, discovered=queued)

    async def _load_site(self, origin: str) -> int:
        listed = await self._robots.sitemaps(origin) if self._robots is not None else []
        waiting = listed or [f"{origin}/sitemap.xml"]
        seen: set[str] = set()
        queued = 0
        while waiting and len(seen) < MAX_SITEMAPS_PER_SITE:
            url = waiting.pop(0)
            if url in seen:
                continue
            seen.add(url)
            sitemap = await self._read(url)
            waiting.extend(sitemap.sitemaps)
            queued += await self._queue(sitemap.pages, url)
        log.info("sitemaps of %s: %d sitemaps read, %d new URLs queued", origin, len(seen), queued)
        return queued

    async def _read(self, url: str) -> Sitemap:
        response = await self._fetch(url)
        if response.status != 200:
            log.info("sitemap %s: %s", url, response.error or f"status {response.status}")
            return Sitemap()
        sitemap = parse_sitemap(response.body)
        if sitemap.error:
            log.warning("sitemap %s: %s", url, sitemap.error)
        return sitemap

    async def _queue(self, pages: list[str], sitemap_url: str) -> int:
        requests = []
        for page in pages:
            target = parse_absolute(page)
            if target is None or not self._scope.is_in_scope(target):
                continue
            if trap_reason(target.url, self._traps) is None:
                requests.append(CrawlRequest(target.url, target.host, 1, sitemap_url))
        return await self._storage.add_requests(requests) if requests else 0
