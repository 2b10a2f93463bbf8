"""The polite way to fetch: robots.txt first, every redirect hop checked, the host throttled.

It owns no delay (the throttle does) and no queue (the frontier does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import final

from crawler.errors import ErrorKind
from crawler.frontier import Frontier
from crawler.http import Fetcher, HopCheck, HopVerdict
from crawler.middleware import CallNext, Middleware, OutgoingRequest, chain
from crawler.models import CrawlRequest, FetchResult, Target
from crawler.robots import RobotsCache
from crawler.store import Storage
from crawler.throttle import Throttle
from crawler.urls import ScopePolicy, origin_of

log = logging.getLogger("crawler")


@final
class RobotsCheck:
    """The robots.txt middleware: a disallowed URL is answered here, never requested; a
    Crawl-delay goes to `on_crawl_delay(host, seconds)` (the throttle's)."""

    def __init__(self, robots: RobotsCache, on_crawl_delay: Callable[[str, float], None]) -> None:
        self._robots = robots
        self._on_crawl_delay = on_crawl_delay

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        verdict = await self._robots.check(request.url, origin_of(request.url))
        if verdict.crawl_delay:
            self._on_crawl_delay(request.crawl.host, verdict.crawl_delay)
        if not verdict.allowed:
            return FetchResult.failed(request.crawl, verdict.error)
        return await call_next(request)


@dataclass(frozen=True, slots=True)
class Policies:
    """What decides whether, and how soon, a request may go out."""

    robots: RobotsCache | None
    throttle: Throttle
    scope: ScopePolicy


@final
class PoliteFetch:
    """Asks robots.txt before fetching, and checks every redirect hop against the scope,
    robots.txt and the records: a disallowed URL is recorded, never requested."""

    def __init__(
        self,
        fetcher: Fetcher,
        frontier: Frontier,
        storage: Storage,
        policies: Policies,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        self._fetcher = fetcher
        self._frontier = frontier
        self._storage = storage
        self._robots = policies.robots
        self._throttle = policies.throttle
        self._scope = policies.scope
        robots = [RobotsCheck(self._robots, self._throttle.set_crawl_delay)] if self._robots else []
        self._send_through_middlewares = chain([*robots, *middlewares], self._send)

    async def fetch(self, request: CrawlRequest) -> FetchResult:
        host = request.host
        if self._throttle.is_given_up(host):
            return FetchResult.failed(request, ErrorKind.HOST_FAILED)
        delay_before = self._throttle.delay_of(host)
        options = request.options
        outgoing = (
            OutgoingRequest(request, dict(options.headers))
            if options is not None and options.headers
            else OutgoingRequest(request)
        )
        result = await self._send_through_middlewares(outgoing)
        was_given_up = self._throttle.is_given_up(host)
        self._throttle.observe(
            host, status=result.status, error=result.error, elapsed_s=result.elapsed_ms / 1000
        )
        if self._throttle.is_given_up(host):
            if not was_given_up:
                self._give_up(host, result)
        elif (delay := self._throttle.delay_of(host)) > delay_before:
            # Slower than when this request started (trouble, or robots.txt's Crawl-delay): the
            # host's next request waits that long from now.
            self._frontier.postpone(host, delay)
        return result

    async def _send(self, request: OutgoingRequest) -> FetchResult:
        """The innermost step of the chain: the fetch itself."""
        return await self._fetcher.fetch(
            request.crawl,
            check_hop=self._hop_check(request.crawl),
            headers=request.headers or None,
            proxy=request.proxy,
        )

    def _give_up(self, host: str, result: FetchResult) -> None:
        last = result.error or result.status
        log.warning("giving up on %s after repeated failures (last: %s)", host, last)
        self._frontier.drop_delay(host)

    def _hop_check(self, request: CrawlRequest) -> HopCheck:
        async def check(target: Target) -> HopVerdict | ErrorKind:
            if not self._scope.is_in_scope(target):
                if request.depth == 0:
                    # A seed that redirects (example.com to www.example.com) names the site.
                    self._scope.admit_host(target.hostname)
                if not self._scope.is_in_scope(target):
                    return ErrorKind.OUT_OF_SCOPE
            if self._robots is not None:
                verdict = await self._robots.check(target.url, origin_of(target.url))
                if not verdict.allowed:
                    return verdict.error
            if await self._storage.is_recorded(target.url):
                return HopVerdict.ALREADY_RECORDED
            return HopVerdict.FOLLOW

        return check
