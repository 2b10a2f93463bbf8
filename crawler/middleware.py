"""The request middleware chain: typed callables between the worker pool and the session.

A middleware is any async callable `(request, call_next) -> FetchResult`. It may change the
request (headers, proxy) before calling `call_next`, look at or replace the result after it,
or answer without calling it at all. In a list, the first middleware is the outermost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, final

from crawler.models import CrawlRequest, FetchResult


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
    async def call(request: OutgoingRequest) -> FetchResult:
        return await middleware(request, call_next)

    return call


@final
class DefaultHeaders:
    """Adds headers to every request that does not already set them."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        missing = {k: v for k, v in self._headers.items() if k not in request.headers}
        return await call_next(request.with_headers(missing) if missing else request)


@final
class RotatingProxy:
    """Sends each request through the next proxy in turn, and counts what each one did."""

    def __init__(self, proxies: Sequence[str]) -> None:
        if not proxies:
            raise ValueError("RotatingProxy needs at least one proxy")
        self._proxies = list(proxies)
        self._turn = 0
        self.counts: dict[str, dict[str, int]] = {
            mask_credentials(p): {"requests": 0, "failures": 0} for p in self._proxies
        }

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        proxy = self._proxies[self._turn % len(self._proxies)]
        self._turn += 1
        result = await call_next(request.with_proxy(proxy))
        counts = self.counts[mask_credentials(proxy)]
        counts["requests"] += 1
        if result.error in ("proxy", "connection", "timeout"):
            counts["failures"] += 1
        return result


def mask_credentials(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and stats."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{separator}{user}:***@{host}"
