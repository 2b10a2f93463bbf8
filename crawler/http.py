"""The one shared `ClientSession`, the fetch of one request, and aiohttp errors mapped to ours.

The only module that imports aiohttp. It knows no store, robots.txt or scope: redirect hops
are put to the `HopCheck` it is given.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import final

import aiohttp
from yarl import URL

from crawler.addresses import AddressBlocked, IPAddress, guarded_socket_factory
from crawler.config import Config
from crawler.errors import (
    BlockedAddress,
    ConnectFailed,
    DNSFailed,
    ErrorKind,
    FetchError,
    FetchTimeout,
    InvalidURL,
    ProtocolFailed,
    ProxyFailed,
    TLSFailed,
    TooLarge,
    TooManyRedirects,
)
from crawler.models import (
    HTML_TYPES,
    CrawlRequest,
    DocumentResponse,
    Exchange,
    FetchResult,
    Target,
    utc_timestamp,
)
from crawler.parse import meta_refresh
from crawler.sniff import sniffed_type
from crawler.urls import resolve_link

MAX_REDIRECTS = 10
DNS_CACHE_TTL_S = 300
KEEPALIVE_S = 30.0
CONNECT_TIMEOUT_CAP_S = 10.0
SOCKS_SCHEMES = ("socks5://", "socks5h://", "socks4://")
FETCH_FAILURES = (TimeoutError, aiohttp.ClientError, ValueError)


def fetch_failures() -> tuple[type[Exception], ...]:
    """What a failed fetch can raise (read when one is raised): each is mapped to an error kind
    by map_client_error()."""
    return (*FETCH_FAILURES, *socks_errors())


def socks_errors() -> tuple[type[Exception], ...]:
    """What aiohttp-socks raises. It is imported only for a crawl with a SOCKS proxy (it costs
    a tenth of the start-up); before that, none of these can be raised."""
    socks = sys.modules.get("aiohttp_socks")
    if socks is None:
        return ()
    return (socks.ProxyError, socks.ProxyConnectionError, socks.ProxyTimeoutError)


def build_session(
    config: Config, *, private_addresses_allowed: frozenset[IPAddress] = frozenset()
) -> aiohttp.ClientSession:
    """The crawl's single session: pooled keep-alive connections, aiodns, cached DNS, and
    unless `allow_private_networks`, no connection to a non-public address that is not in
    `private_addresses_allowed`."""
    guard = None
    if not config.allow_private_networks:
        guard = guarded_socket_factory(private_addresses_allowed)
    connector = aiohttp.TCPConnector(
        socket_factory=guard,
        limit=config.concurrency,
        limit_per_host=config.per_host,
        resolver=aiohttp.AsyncResolver(),
        use_dns_cache=True,
        ttl_dns_cache=DNS_CACHE_TTL_S,
        keepalive_timeout=KEEPALIVE_S,
    )
    return _session(config, connector)


def build_socks_sessions(
    config: Config, proxies: Iterable[str]
) -> dict[str, aiohttp.ClientSession]:
    """A session for each SOCKS proxy: aiohttp reaches SOCKS only through a connector of its own
    (aiohttp-socks), so these are the one exception to the single shared session."""
    socks_proxies = [proxy for proxy in proxies if proxy.startswith(SOCKS_SCHEMES)]
    if not socks_proxies:
        return {}
    from aiohttp_socks import ProxyConnector  # noqa: PLC0415 (see socks_errors)

    return {
        proxy: _session(
            config,
            ProxyConnector.from_url(
                proxy,
                limit=config.concurrency,
                limit_per_host=config.per_host,
                keepalive_timeout=KEEPALIVE_S,
            ),
        )
        for proxy in socks_proxies
    }


def _session(config: Config, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
    # No sock_read: a read timeout as long as the total one can never fire first, and aiohttp
    # would move its timer at every chunk received.
    timeout = aiohttp.ClientTimeout(
        total=config.timeout, sock_connect=min(config.timeout, CONNECT_TIMEOUT_CAP_S)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": config.user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


def map_client_error(error: BaseException) -> FetchError:
    """Translate an aiohttp or asyncio error into our tree, most specific first."""
    message = str(error) or type(error).__name__
    mapped: FetchError
    if isinstance(error, aiohttp.ClientConnectorError) and _is_blocked(error):
        mapped = BlockedAddress(message)
    elif isinstance(
        error, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError, *socks_errors())
    ):
        mapped = ProxyFailed(message)
    elif isinstance(error, aiohttp.TooManyRedirects):
        mapped = TooManyRedirects(message)
    elif isinstance(error, aiohttp.ClientConnectorDNSError):
        mapped = DNSFailed(message)
    elif isinstance(error, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        mapped = TLSFailed(message)
    elif isinstance(error, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        mapped = FetchTimeout(message)
    elif isinstance(error, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
        mapped = InvalidURL(message)
    elif isinstance(error, aiohttp.ClientResponseError):
        mapped = ProtocolFailed(message)
    else:
        mapped = ConnectFailed(message)
    return mapped


def _is_blocked(error: aiohttp.ClientConnectorError) -> bool:
    # With several addresses to try, the happy-eyeballs layer merges the errors into one
    # OSError whose message still names ours.
    return isinstance(error.os_error, AddressBlocked) or "is not a public address" in str(error)


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class HopVerdict(Enum):
    """A redirect target that may be fetched, or one already recorded (stop there, no error)."""

    FOLLOW = "follow"
    ALREADY_RECORDED = "already_recorded"


HopCheck = Callable[[Target], Awaitable[HopVerdict | ErrorKind]]
"""Decides on a redirect target: follow it, stop at it, or end the fetch with an error kind."""


@dataclass
class _Response:
    """What is known of the response so far, updated hop by hop."""

    start: str
    url: str = ""
    status: int | None = None
    location: str | None = None
    content_type: str | None = None
    charset: str | None = None
    robots_tag: str | None = None
    body: bytes = b""
    error: ErrorKind | None = None
    redirects: int = 0
    retry_after: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    exchange: Exchange | None = None
    method: str = "GET"
    data: bytes | None = None


@final
class Fetcher:
    """Fetches one request through the shared session; never raises for a failed fetch."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_size: int,
        socks_sessions: Mapping[str, aiohttp.ClientSession] | None = None,
    ) -> None:
        self._session = session
        self._max_size = max_size
        self._socks_sessions = socks_sessions or {}

    def _route(self, proxy: str | None) -> tuple[aiohttp.ClientSession, str | None]:
        """The session to send through, and the proxy argument for it."""
        if proxy is not None and proxy in self._socks_sessions:
            return self._socks_sessions[proxy], None
        return self._session, proxy

    async def fetch(
        self,
        request: CrawlRequest,
        *,
        check_hop: HopCheck | None = None,
        headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
    ) -> FetchResult:
        """Fetch, following up to MAX_REDIRECTS redirects, each first put to `check_hop`;
        `headers` are added to the session's, `proxy` (an http(s) proxy URL) is used if given."""
        fetched_at = utc_timestamp()
        started = time.perf_counter()
        response = _Response(request.url, request.url)
        if request.options is not None:
            response.method = request.options.method
            response.data = request.options.body
        hops: list[Target] = []
        # A recrawl asks for the page only if it changed; redirect hops are asked for plainly.
        sent = headers
        if request.last is not None and request.last.conditional_headers():
            sent = {**(headers or {}), **request.last.conditional_headers()}
        try:
            while await self._get(response, sent, proxy) and await self._follow(
                response, hops, check_hop
            ):
                sent = headers
        except FetchError as exc:
            response.error = exc.kind
        except fetch_failures() as exc:
            response.error = map_client_error(exc).kind
        if response.error is None and response.status is not None and response.status >= 400:
            response.error = ErrorKind.HTTP
        return FetchResult(
            request=request,
            final_url=response.url,
            status=response.status,
            content_type=response.content_type,
            body=response.body,
            error=response.error,
            fetched_at=fetched_at,
            elapsed_ms=round((time.perf_counter() - started) * 1000),
            charset=response.charset,
            robots_tag=response.robots_tag,
            hops=tuple(hops),
            redirects=response.redirects,
            retry_after=response.retry_after,
            headers=response.headers,
            exchange=response.exchange,
        )

    async def _get(
        self, response: _Response, headers: Mapping[str, str] | None, proxy: str | None
    ) -> bool:
        """Request `response.url`; True if the answer is a redirect (its target in `location`)."""
        session, proxy = self._route(proxy)
        async with session.request(
            response.method,
            URL(response.url, encoded=True),
            data=response.data,
            allow_redirects=False,
            headers=headers,
            proxy=proxy,
        ) as answer:
            response.status = answer.status
            headers = response.headers = answer.headers
            version = answer.version
            response.exchange = Exchange(
                response.method,
                answer.request_info.headers,
                response.data,
                f"{version.major}.{version.minor}" if version is not None else "1.1",
                answer.reason,
            )
            response.retry_after = headers.get("Retry-After")
            if answer.status in REDIRECT_STATUSES and "Location" in headers:
                response.location = headers["Location"]
                if _redirects_as_get(answer.status, response.method):
                    response.method, response.data = "GET", None
                return True
            sent_type = answer.content_type if "Content-Type" in headers else None
            response.charset = answer.charset
            if "X-Robots-Tag" in headers:
                response.robots_tag = ", ".join(headers.getall("X-Robots-Tag"))
            response.body = await self._read_body(answer)
            response.content_type = sniffed_type(sent_type, response.body, headers)
            return _refreshes(response)

    async def _follow(
        self, response: _Response, hops: list[Target], check_hop: HopCheck | None
    ) -> bool:
        """Move `response` on to its redirect target; False (with `error` set) to stop."""
        response.redirects += 1
        target = resolve_link(response.url, response.location or "")
        if target is None:
            response.error = ErrorKind.INVALID_URL
            return False
        visited = {response.start, *(hop.url for hop in hops)}
        response.url = target.url
        if target.url in visited:
            response.error = ErrorKind.REDIRECT_LOOP
            return False
        if len(hops) >= MAX_REDIRECTS:
            response.error = ErrorKind.TOO_MANY_REDIRECTS
            return False
        verdict = await check_hop(target) if check_hop is not None else HopVerdict.FOLLOW
        if verdict is HopVerdict.FOLLOW:
            hops.append(target)
            return True
        response.error = None if verdict is HopVerdict.ALREADY_RECORDED else verdict
        return False

    async def fetch_document(
        self,
        url: str,
        *,
        max_bytes: int,
        max_redirects: int = MAX_REDIRECTS,
        proxy: str | None = None,
    ) -> DocumentResponse:
        """GET a document for the crawler's own use (robots.txt, a sitemap): the first
        `max_bytes` of its body, redirects followed by aiohttp."""
        session, proxy = self._route(proxy)
        try:
            async with session.get(
                URL(url, encoded=True), max_redirects=max_redirects + 1, proxy=proxy
            ) as response:
                body = await _read_prefix(response, max_bytes)
                return DocumentResponse(response.status, body)
        except fetch_failures() as exc:
            return DocumentResponse(None, error=map_client_error(exc).kind)

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The decompressed body, refusing more than `max_size` bytes of it."""
        declared = response.content_length
        encoded = "Content-Encoding" in response.headers
        if declared is not None and not encoded:
            if declared > self._max_size:
                raise TooLarge(f"Content-Length {declared} > {self._max_size}")
            return await response.read()  # exactly `declared` bytes: no need to count
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.content.iter_any():
            received += len(chunk)
            if received > self._max_size:
                raise TooLarge(f"body larger than {self._max_size} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _redirects_as_get(status: int, method: str) -> bool:
    """Whether a redirect turns the request into a GET without body (as browsers do)."""
    return (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST")


async def _read_prefix(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most the first `limit` bytes of the body; the rest is not read."""
    chunks: list[bytes] = []
    kept = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk[: limit - kept])
        kept += len(chunks[-1])
        if kept >= limit:
            break
    return b"".join(chunks)


def _refreshes(response: _Response) -> bool:
    """Whether a page that arrived asks, by a meta refresh soon enough, to go elsewhere: then
    it is followed as a redirect (its target in `location`)."""
    if response.status != 200 or response.content_type not in HTML_TYPES:
        return False
    target = meta_refresh(response.body, response.url, response.charset)
    if target is None or target.url == response.url:  # none, or a page that reloads itself
        return False
    response.location = target.url
    response.method, response.data = "GET", None
    return True
