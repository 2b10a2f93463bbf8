"""What a fetched page leaves behind: its record, the requests worth queueing, the body to keep.

Pure decisions, no I/O: a fetch result, what the page step made of it and the crawl's scope go
in; an `Outcome`, which the store saves in one transaction, comes out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import final

from crawler.capture import capture_of
from crawler.config import Config, StoreBodies
from crawler.errors import ErrorKind
from crawler.models import (
    CrawlRequest,
    FetchResult,
    HttpCapture,
    Outcome,
    PageOutput,
    PageRecord,
)
from crawler.parse import NOINDEX_DIRECTIVES, MetaRobots, header_directives, meta_says_noindex
from crawler.urls import ScopePolicy, TrapLimits, trap_reason

SEEN_CACHE_SIZE = 50_000


@final
class SeenCache:
    """URLs recently queued, so most duplicate links never reach the database. Bounded, FIFO."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._urls: dict[str, None] = {}
        self.contains: Callable[[str], bool] = self._urls.__contains__
        """Whether the URL is in the cache (the dict's own test: no Python call per link)."""

    def add(self, url: str) -> bool:
        """True if the URL was not in the cache (it is now)."""
        if url in self._urls:
            return False
        self._urls[url] = None
        if len(self._urls) > self._size:
            del self._urls[next(iter(self._urls))]
        return True


@dataclass(frozen=True, slots=True)
class OutcomeRules:
    """The settings an outcome depends on."""

    max_depth: int | None
    max_links_per_page: int
    traps: TrapLimits
    store_bodies: StoreBodies
    meta_robots: MetaRobots  # noindex pages' bodies are not kept, unless it says to ignore it

    @classmethod
    def for_config(cls, config: Config) -> OutcomeRules:
        return cls(
            max_depth=config.max_depth,
            max_links_per_page=config.max_links_per_page,
            traps=TrapLimits(
                config.max_url_length, config.max_path_depth, config.max_segment_repeats
            ),
            store_bodies=config.store_bodies,
            meta_robots=MetaRobots.for_settings(config),
        )


@final
class OutcomePolicy:
    """Turns each finished fetch into its `Outcome`, remembering the URLs it queued lately."""

    def __init__(self, rules: OutcomeRules, seen: SeenCache | None = None) -> None:
        self._rules = rules
        self._seen = seen or SeenCache(SEEN_CACHE_SIZE)

    def decide(self, result: FetchResult, output: PageOutput, scope: ScopePolicy) -> Outcome:
        """The page's record (the page step's error, if any, wins over the fetch's), records for
        the redirect hops, the links and requests worth queueing, the body to keep, its items."""
        request = result.request
        discovered, limits_hit = self._discovered(request, output, scope)
        record = record_of(result, output.error or result.error)
        redirected = tuple(
            (
                CrawlRequest(hop.url, hop.host, request.depth, request.url),
                replace(record, url=hop.url, parent=request.url, redirects=record.redirects - n),
            )
            for n, hop in enumerate(result.hops, start=1)
        )
        return Outcome(
            request,
            record,
            discovered,
            limits_hit,
            redirected,
            self._capture_to_keep(result),
            output.items,
        )

    def _capture_to_keep(self, result: FetchResult) -> HttpCapture | None:
        body = self._body_to_keep(result)
        return None if body is None else capture_of(result, body)

    def _body_to_keep(self, result: FetchResult) -> bytes | None:
        keep = self._rules.store_bodies
        if keep == "none" or result.status is None or result.error not in (None, ErrorKind.HTTP):
            return None
        if keep == "html" and not result.is_html:
            return None
        meta_robots = self._rules.meta_robots
        if not meta_robots.obeyed:
            return result.body
        if header_directives(result.robots_tag, meta_robots.agent) & NOINDEX_DIRECTIVES:
            return None
        if result.is_html and meta_says_noindex(result.body, result.charset):
            return None
        return result.body

    def _discovered(
        self, request: CrawlRequest, output: PageOutput, scope: ScopePolicy
    ) -> tuple[tuple[CrawlRequest, ...], dict[str, int]]:
        """The page's links and follow-up requests worth queueing, and how many each trap
        limit dropped."""
        depth = request.depth + 1
        max_depth = self._rules.max_depth
        links, follows = output.links, output.follows
        if not (links or follows) or (max_depth is not None and depth > max_depth):
            return (), {}
        limits_hit: Counter[str] = Counter()
        room = self._rules.max_links_per_page
        if output.dropped_links:
            limits_hit["links_per_page"] = output.dropped_links
        if len(links) + len(follows) > room:
            limits_hit["links_per_page"] += len(links) + len(follows) - room
            follows = follows[:room]
            links = links[: room - len(follows)]
        discovered = []
        seen, traps = self._seen, self._rules.traps
        is_seen = seen.contains
        for link in links:
            # Most links of a page were seen before: that test is the cheaper one, so it is first.
            if is_seen(link.url) or not scope.is_in_scope(link):
                continue
            seen.add(link.url)
            trap = trap_reason(link.url, traps)
            if trap is not None:
                limits_hit[trap] += 1
                continue
            discovered.append(CrawlRequest(link.url, link.host, depth, request.url))
        for follow in follows:
            target = follow.target
            new = CrawlRequest(target.url, target.host, depth, request.url, options=follow.options)
            if not scope.is_in_scope(target) or not seen.add(new.dedup_key):
                continue
            trap = trap_reason(target.url, traps)
            if trap is not None:
                limits_hit[trap] += 1
                continue
            discovered.append(new)
        return tuple(discovered), dict(limits_hit)


def record_of(result: FetchResult, error: ErrorKind | str | None) -> PageRecord:
    """The export record of a fetch, with `error` as its error kind."""
    request = result.request
    has_body = result.status is not None and result.error in (None, ErrorKind.HTTP)
    return PageRecord(
        url=request.url,
        final_url=result.final_url if result.status is not None else None,
        status=result.status,
        depth=request.depth,
        parent=request.parent,
        content_type=result.content_type,
        size=len(result.body) if has_body else 0,
        sha256=hashlib.sha256(result.body).hexdigest() if has_body else None,
        error=error,
        retries=request.retries,
        fetched_at=result.fetched_at,
        elapsed_ms=result.elapsed_ms,
        redirects=result.redirects,
    )


def given_up(request: CrawlRequest, kind: ErrorKind) -> Outcome:
    """The outcome of a request that got no answer at all (a stalled one, say)."""
    return Outcome(request, record_of(FetchResult.failed(request, kind), kind))
