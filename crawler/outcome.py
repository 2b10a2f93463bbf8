"""What a fetched page leaves behind: its record, the requests worth queueing, the body to keep.

Pure decisions, no I/O: a fetch result, what the page step made of it and the crawl's scope go
in; an `Outcome`, which the store saves in one transaction, comes out.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import final

from crawler.capture import capture_of
from crawler.config import Config, StoreBodies
from crawler.errors import TRANSIENT_KINDS, ErrorKind
from crawler.models import (
    CrawlRequest,
    FetchResult,
    FollowRequest,
    HttpCapture,
    Kept,
    Outcome,
    PageOutput,
    PageRecord,
    Target,
    Validators,
)
from crawler.parse import NOINDEX_DIRECTIVES, MetaRobots, header_directives, meta_says_noindex
from crawler.urls import QueryCounter, ScopePolicy, TrapLimits, trap_reason

SEEN_CACHE_SIZE = 50_000
MAX_VALIDATOR_LENGTH = 512  # a longer ETag or Last-Modified is not kept (nor sent back)
_OK = int(HTTPStatus.OK)  # an int: comparing with the enum member costs a lookup per page


@final
class SeenCache:
    """URLs recently queued or fetched, so most duplicate links never reach the database, and
    which of them were fetched fine, so links to those are not kept. Bounded, FIFO.

    One dict for both answers: a page's links cost one lookup each (a link is a string made
    anew, so each lookup is a cache miss or two: the lookups are most of the cost)."""

    def __init__(self, size: int) -> None:
        self._size = size
        # A plain dict, and the order apart: finding a dict's oldest key by iterating steps
        # over every slot deleted before it. The value: whether the URL was fetched fine.
        self._urls: dict[str, bool] = {}
        self._order: deque[str] = deque()
        self.state_of: Callable[[str], bool | None] = self._urls.get
        """None for a URL not in the cache, else whether it was fetched fine (the dict's own
        lookup: no Python call per link)."""

    def add(self, url: str) -> bool:
        """True if the URL was not in the cache (it is now)."""
        if url in self._urls:
            return False
        self._remember(url, fine=False)
        return True

    def mark_fine(self, url: str) -> None:
        """The URL was fetched fine (it is in the cache now, if it was not)."""
        if url in self._urls:
            self._urls[url] = True
        else:
            self._remember(url, fine=True)

    def not_fine(self, urls: Iterable[str]) -> list[str]:
        """Those of `urls` not known to have been fetched fine."""
        state_of = self.state_of
        return [url for url in urls if not state_of(url)]

    def _remember(self, url: str, *, fine: bool) -> None:
        self._urls[url] = fine
        self._order.append(url)
        if len(self._order) > self._size:
            del self._urls[self._order.popleft()]


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
                config.max_url_length,
                config.max_path_depth,
                config.max_segment_repeats,
                config.max_queries_per_path,
            ),
            store_bodies=config.store_bodies,
            meta_robots=MetaRobots.for_settings(config),
        )


@dataclass(slots=True)
class _Found:
    """What a page's links come to: requests to queue, trap counts, links to keep."""

    depth: int  # of the requests
    requests: list[CrawlRequest] = field(default_factory=list)
    limits_hit: Counter[str] = field(default_factory=Counter)
    linked: list[str] = field(default_factory=list)
    """The link targets that may be fetched, but for those known to be fine."""


@final
class OutcomePolicy:
    """Turns each finished fetch into its `Outcome`, remembering the URLs it queued lately."""

    def __init__(self, rules: OutcomeRules, seen: SeenCache | None = None) -> None:
        self._rules = rules
        # Pages recorded fine lately are marked so: links to them are not kept, as they cannot
        # be broken links; most of a site's links point at pages already fetched, so this
        # spares the store most of them. Forgetting one only costs a kept link.
        self._seen = seen or SeenCache(SEEN_CACHE_SIZE)
        self._queries = QueryCounter(rules.traps.max_queries_per_path)

    def decide(self, result: FetchResult, output: PageOutput, scope: ScopePolicy) -> Outcome:
        """The page's record (the page step's error, if any, wins over the fetch's), records for
        the redirect hops, the links and requests worth queueing, the body to keep, its items."""
        request = result.request
        kept = kept_as_it_was(result)
        if kept is not None:
            return Outcome(request, record_of(result, result.error), kept=kept)
        record = record_of(result, output.error or result.error)
        if record.error is None and (record.status or 0) < 400:
            self._remember_fine(request, result)
        found = self._discovered(request, output, scope)
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
            tuple(found.requests),
            dict(found.limits_hit),
            redirected,
            self._capture_to_keep(result),
            output.items,
            tuple(dict.fromkeys(found.linked)),  # a follow may repeat a link
            validators_of(result),
        )

    def _remember_fine(self, request: CrawlRequest, result: FetchResult) -> None:
        if request.options is None or not request.options.variant:
            self._seen.mark_fine(request.url)
            for hop in result.hops:
                self._seen.mark_fine(hop.url)

    def _discovered(self, request: CrawlRequest, output: PageOutput, scope: ScopePolicy) -> _Found:
        """The page's links and follow-up requests worth queueing, how many each trap limit
        dropped, and the links to keep."""
        found = _Found(request.depth + 1)
        links, follows = output.links, output.follows
        max_depth = self._rules.max_depth
        if not (links or follows):
            return found
        if max_depth is not None and found.depth > max_depth:
            found.linked = self._linked(links, follows, scope)
            return found
        room = self._rules.max_links_per_page
        if output.dropped_links:
            found.limits_hit["links_per_page"] = output.dropped_links
        if len(links) + len(follows) > room:
            found.limits_hit["links_per_page"] += len(links) + len(follows) - room
            follows = follows[:room]
            links = links[: room - len(follows)]
        self._queue_links(links, request, scope, found)
        self._queue_follows(follows, request, scope, found)
        return found

    def _trap(self, url: str) -> str | None:
        """The trap limit a new URL breaks (the name counted in stats), or None."""
        reason = trap_reason(url, self._rules.traps)
        if reason is None and not self._queries.admits(url):
            return "queries_per_path"
        return reason

    def _queue_links(
        self, links: Sequence[Target], request: CrawlRequest, scope: ScopePolicy, found: _Found
    ) -> None:
        seen, state_of, trap_of = self._seen, self._seen.state_of, self._trap
        keep = found.linked.append
        for link in links:
            url = link.url
            # Most links of a page were seen before: that test is the cheaper one, so it is first.
            state = state_of(url)
            if state is not None:
                if not state:  # queued, not yet known to be fine: kept
                    keep(url)
                continue
            if not scope.is_in_scope(link):
                continue
            seen.add(url)
            trap = trap_of(url)
            if trap is not None:
                found.limits_hit[trap] += 1
                continue
            keep(url)
            found.requests.append(CrawlRequest(url, link.host, found.depth, request.url))

    def _queue_follows(
        self,
        follows: Sequence[FollowRequest],
        request: CrawlRequest,
        scope: ScopePolicy,
        found: _Found,
    ) -> None:
        seen, trap_of = self._seen, self._trap
        for follow in follows:
            target = follow.target
            if not scope.is_in_scope(target):
                continue
            if not follow.options.variant and not seen.state_of(target.url):
                found.linked.append(target.url)
            new = CrawlRequest(
                target.url, target.host, found.depth, request.url, options=follow.options
            )
            if not seen.add(new.dedup_key):
                continue
            trap = trap_of(target.url)
            if trap is not None:
                found.limits_hit[trap] += 1
                continue
            found.requests.append(new)

    def _linked(
        self, links: Sequence[Target], follows: Sequence[FollowRequest], scope: ScopePolicy
    ) -> list[str]:
        """The links to keep of a page whose links are not followed (past `max_depth`)."""
        targets = [*links, *(f.target for f in follows if not f.options.variant)]
        return self._seen.not_fine(target.url for target in targets if scope.is_in_scope(target))

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
    result = FetchResult.failed(request, kind)
    return Outcome(request, record_of(result, kind), kept=kept_as_it_was(result))


def kept_as_it_was(result: FetchResult) -> Kept | None:
    """Why a refetch leaves the page's record as it was, if it does: a 304 to the conditional
    request, or an answer that says nothing of the page (none, a 429 or a 5xx)."""
    last = result.request.last
    if last is None:
        return None
    if result.status == HTTPStatus.NOT_MODIFIED and not result.hops and last != Validators():
        return Kept.UNCHANGED
    status = result.status or 0
    if result.error in TRANSIENT_KINDS or status == HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
        return Kept.TRANSIENT
    return None


def validators_of(result: FetchResult) -> Validators | None:
    """The validators of a page answered 200 without a redirect, if it gave any (sensibly
    short): a recrawl asks for it again only if it changed."""
    if result.status != _OK or result.hops:
        return None
    headers = result.headers
    etag, last_modified = headers.get("ETag"), headers.get("Last-Modified")
    if not etag or len(etag) > MAX_VALIDATOR_LENGTH:
        etag = None
    if not last_modified or len(last_modified) > MAX_VALIDATOR_LENGTH:
        last_modified = None
    if etag is None and last_modified is None:
        return None
    return Validators(etag, last_modified)
