"""The request middleware chain: typed callables between the worker pool and the session.

A middleware is any async callable `(request, call_next) -> FetchResult`. It may change the
request (headers, proxy) before calling `call_next`, look at or replace the result after it,
or answer without calling it at all. In a list, the first middleware is the outermost.

It knows neither aiohttp nor the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, final, get_args

from crawler.config import ProxyStrategy, RetryPolicy
from crawler.errors import ErrorKind
from crawler.models import CrawlRequest, DocumentResponse, FetchResult, ProxyFigures
from crawler.retry import can_retry, parse_retry_after, retry_delay
from crawler.urls import mask_credentials

log = logging.getLogger("crawler")


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """What is about to be sent: the crawl's request, and the headers and proxy to send it with."""

    crawl: CrawlRequest
    headers: Mapping[str, str] = field(default_factory=dict)
    proxy: str | None = None

    @property
    def url(self) -> str:
        return self.crawl.url

    def with_headers(self, headers: Mapping[str, str]) -> OutgoingRequest:
        """A copy with `headers` added (they win over headers of the same name)."""
        return replace(self, headers={**self.headers, **headers})

    def with_proxy(self, proxy: str | None) -> OutgoingRequest:
        return replace(self, proxy=proxy)


CallNext = Callable[[OutgoingRequest], Awaitable[FetchResult]]


class Middleware(Protocol):
    """`async def __call__(self, request, call_next) -> FetchResult`."""

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult: ...


def chain(middlewares: Sequence[Middleware], send: CallNext) -> CallNext:
    """One callable that runs `middlewares` in list order around `send`."""
    handler = send
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, call_next: CallNext) -> CallNext:
    return _Link(middleware, call_next)


@final
class _Link:
    """One step of the chain. Not a coroutine itself: it hands back the middleware's own, which
    spares a coroutine per middleware per request."""

    __slots__ = ("_call_next", "_middleware")

    def __init__(self, middleware: Middleware, call_next: CallNext) -> None:
        self._middleware = middleware
        self._call_next = call_next

    def __call__(self, request: OutgoingRequest) -> Awaitable[FetchResult]:
        return self._middleware(request, self._call_next)


@final
class DefaultHeaders:
    """Adds headers to every request that does not already set them."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        missing = {k: v for k, v in self._headers.items() if k not in request.headers}
        return await call_next(request.with_headers(missing) if missing else request)


PROXY_FAILURE_KINDS = frozenset({ErrorKind.PROXY, ErrorKind.CONNECTION, ErrorKind.TIMEOUT})
COOLDOWN_START_S = 1.0
COOLDOWN_MAX_S = 300.0
EVICT_AFTER = 5  # consecutive failures
PROXY_AUTH_REQUIRED = 407


@dataclass
class _ProxyState:
    url: str
    requests: int = 0
    failures: int = 0
    bans: int = 0
    in_a_row: int = 0
    cool_until: float = 0.0
    evicted: bool = False
    in_flight: int = 0
    latency_ms: int = 0  # summed over requests


@final
class RotatingProxy:
    """Sends each request through one of the proxies, keeping the failing ones out.

    Strategies: `round-robin`, `random`, or `sticky` (one proxy per host while it works). A
    proxy that fails (cannot be reached, refuses, times out) or answers with a ban status is
    cooled down (1 s, doubling up to 300 s) and the request tried at once through another; after
    5 failures in a row it is evicted. When every proxy is cooling down the request waits for
    the first to come back (and says so in the log); when all are evicted, requests fail with
    `error: "proxy"` rather than going out directly.
    """

    def __init__(
        self,
        proxies: Sequence[str],
        *,
        strategy: ProxyStrategy = "round-robin",
        ban_statuses: frozenset[int] = frozenset(),
        max_per_proxy: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not proxies:
            raise ValueError("RotatingProxy needs at least one proxy")
        self._states = [_ProxyState(url) for url in proxies]
        if strategy not in get_args(ProxyStrategy):
            raise ValueError(f"unknown proxy strategy {strategy!r}")
        self._strategy = strategy
        self._ban_statuses = ban_statuses
        self._clock = clock
        self._turn = 0
        self._random = random.Random()
        self._sticky: dict[str, int] = {}
        self._max_per_proxy = max_per_proxy
        self._slot_freed = asyncio.Event()

    @property
    def figures(self) -> dict[str, ProxyFigures]:
        """How each proxy did so far, by URL with credentials masked."""
        return {
            mask_credentials(s.url): ProxyFigures(
                s.requests,
                s.failures,
                s.bans,
                s.evicted,
                s.latency_ms // s.requests if s.requests else 0,
            )
            for s in self._states
        }

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        result: FetchResult | None = None
        for _ in range(len(self._states)):
            state = await self._choose(request.crawl.host)
            if state is None:
                break
            state.in_flight += 1
            started = time.perf_counter()
            try:
                result = await call_next(request.with_proxy(state.url))
            finally:
                self._release(state, started)
            if self._went_well(state, result.status, result.error):
                return result
            self._sticky.pop(request.crawl.host, None)
        return result or FetchResult.failed(request.crawl, ErrorKind.PROXY)

    async def fetch_document(
        self, url: str, fetch: Callable[[str, str | None], Awaitable[DocumentResponse]]
    ) -> DocumentResponse:
        """Fetch one of the crawler's own documents (robots.txt, a sitemap) the same way, so
        the crawl shows one face to the sites it visits."""
        host = url.split("/", 3)[2]
        response = DocumentResponse(None, error=ErrorKind.PROXY)
        for _ in range(len(self._states)):
            state = await self._choose(host)
            if state is None:
                break
            state.in_flight += 1
            started = time.perf_counter()
            try:
                response = await fetch(url, state.url)
            finally:
                self._release(state, started)
            if self._went_well(state, response.status, response.error):
                return response
        return response

    async def _choose(self, host: str) -> _ProxyState | None:
        while True:
            alive = [s for s in self._states if not s.evicted]
            if not alive:
                log.error("every proxy has been evicted: requests fail with error 'proxy'")
                return None
            now = self._clock()
            ready = [s for s in alive if s.cool_until <= now]
            free = [s for s in ready if self._has_room(s)]
            if free:
                return self._pick(free, host)
            if ready:  # working proxies, all at their concurrency limit
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            wait = min(s.cool_until for s in alive) - now
            log.warning("all proxies are cooling down: waiting %.1f s", wait)
            await asyncio.sleep(wait)

    def _has_room(self, state: _ProxyState) -> bool:
        return self._max_per_proxy is None or state.in_flight < self._max_per_proxy

    def _release(self, state: _ProxyState, started: float) -> None:
        state.in_flight -= 1
        state.latency_ms += round((time.perf_counter() - started) * 1000)
        self._slot_freed.set()

    def _pick(self, ready: list[_ProxyState], host: str) -> _ProxyState:
        if self._strategy == "random":
            return self._random.choice(ready)
        if self._strategy == "sticky":
            index = self._sticky.get(host)
            if index is not None and self._states[index] in ready:
                return self._states[index]
            chosen = ready[hash(host) % len(ready)]
            self._sticky[host] = self._states.index(chosen)
            return chosen
        chosen = ready[self._turn % len(ready)]
        self._turn += 1
        return chosen

    def _went_well(self, state: _ProxyState, status: int | None, error: str | None) -> bool:
        state.requests += 1
        banned = status is not None and status in self._ban_statuses
        refused = status == PROXY_AUTH_REQUIRED
        if error not in PROXY_FAILURE_KINDS and not banned and not refused:
            state.in_a_row = 0
            return True
        state.failures += 1
        state.bans += banned
        state.in_a_row += 1
        cooldown = min(COOLDOWN_START_S * 2 ** (state.in_a_row - 1), COOLDOWN_MAX_S)
        state.cool_until = self._clock() + cooldown
        if state.in_a_row >= EVICT_AFTER and not state.evicted:
            state.evicted = True
            log.warning(
                "proxy %s evicted after %d failures in a row",
                mask_credentials(state.url),
                state.in_a_row,
            )
        return False


@final
class Retry:
    """Marks a failed result to be tried again later (`retry_in` seconds): the engine then puts
    the request back in the store, so the wait holds no worker. See `crawler.retry`."""

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self._policy = policy
        self._random = rng or random.Random()
        self._told_long_wait = False

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        result = await call_next(request)
        if not can_retry(self._policy, result):
            return result
        retry_after = parse_retry_after(result.retry_after)
        if retry_after is not None and retry_after > self._policy.retry_max_wait:
            self._tell_long_wait(result, retry_after)
            return result  # recorded as it is: not worth holding this run's end for
        delay = retry_delay(self._policy, request.crawl.retries, retry_after, self._random)
        return replace(result, retry_in=delay)

    def _tell_long_wait(self, result: FetchResult, retry_after: float) -> None:
        if self._told_long_wait:
            return
        self._told_long_wait = True
        log.info(
            "%s asks to retry in %.0f s, beyond retry_max_wait (%g s): recorded as it is,"
            " not retried in this run (said once)",
            result.request.url,
            retry_after,
            self._policy.retry_max_wait,
        )
