"""The one shared `ClientSession`, the fetch of one request, and aiohttp errors mapped to ours."""

from __future__ import annotations

import asyncio
import time
from typing import final

import aiohttp
from yarl import URL

from crawler.config import Config
from crawler.errors import (
    ConnectFailed,
    DNSFailed,
    FetchError,
    FetchTimeout,
    InvalidURL,
    ProtocolFailed,
    TLSFailed,
    TooLarge,
    TooManyRedirects,
)
from crawler.models import CrawlRequest, FetchResult, RobotsResponse, utc_timestamp

MAX_REDIRECTS = 10
ROBOTS_MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 500 * 1024
DNS_CACHE_TTL_S = 300
KEEPALIVE_S = 30.0
CONNECT_TIMEOUT_CAP_S = 10.0


def build_session(config: Config) -> aiohttp.ClientSession:
    """The crawl's single session: pooled keep-alive connections, aiodns, cached DNS."""
    connector = aiohttp.TCPConnector(
        limit=config.concurrency,
        limit_per_host=config.per_host,
        resolver=aiohttp.AsyncResolver(),
        use_dns_cache=True,
        ttl_dns_cache=DNS_CACHE_TTL_S,
        keepalive_timeout=KEEPALIVE_S,
    )
    timeout = aiohttp.ClientTimeout(
        total=config.timeout,
        sock_connect=min(config.timeout, CONNECT_TIMEOUT_CAP_S),
        sock_read=config.timeout,
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
    if isinstance(error, aiohttp.TooManyRedirects):
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


@final
class Fetcher:
    """Fetches one request through the shared session; never raises for a failed fetch."""

    def __init__(self, session: aiohttp.ClientSession, *, max_size: int) -> None:
        self._session = session
        self._max_size = max_size

    async def fetch(self, request: CrawlRequest) -> FetchResult:
        fetched_at = utc_timestamp()
        started = time.perf_counter()
        status: int | None = None
        content_type: str | None = None
        final_url = request.url
        body = b""
        error: str | None = None
        charset: str | None = None
        try:
            async with self._session.get(
                # aiohttp gives up on the Nth redirect response; we follow MAX_REDIRECTS hops.
                URL(request.url, encoded=True),
                max_redirects=MAX_REDIRECTS + 1,
            ) as response:
                status = response.status
                final_url = str(response.url)
                content_type = response.content_type if "Content-Type" in response.headers else None
                charset = response.charset
                body = await self._read_body(response)
        except FetchError as exc:
            error = exc.kind
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            error = map_client_error(exc).kind
        if error is None and status is not None and status >= 400:
            error = "http"
        return FetchResult(
            request=request,
            final_url=final_url,
            status=status,
            content_type=content_type,
            body=body,
            error=error,
            fetched_at=fetched_at,
            elapsed_ms=round((time.perf_counter() - started) * 1000),
            charset=charset,
        )

    async def fetch_robots(self, url: str) -> RobotsResponse:
        """GET a robots.txt: up to 5 redirects, at most 500 KiB kept."""
        try:
            async with self._session.get(
                URL(url, encoded=True), max_redirects=ROBOTS_MAX_REDIRECTS + 1
            ) as response:
                body = await _read_prefix(response, ROBOTS_MAX_BYTES)
                return RobotsResponse(response.status, body)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return RobotsResponse(None, error=map_client_error(exc).kind)

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
