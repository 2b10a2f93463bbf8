"""robots.txt per origin (RFC 9309, parsed by Protego): fetched once, cached, shared.

It fetches only through the function it is given; it knows no aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import final

from protego import Protego

from crawler.errors import ErrorKind
from crawler.models import DocumentResponse
from crawler.parse import product_token

log = logging.getLogger("crawler")

MAX_ROBOTS_BYTES = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 2.3.1.2: more means "unavailable"
CACHE_TTL_S = 24 * 3600.0
UNREACHABLE_RETRY_S = 60.0
_OK, _CLIENT_ERROR = range(200, 300), range(400, 500)

RobotsFetch = Callable[[str], Awaitable[DocumentResponse]]
"""Fetches a robots.txt URL, following up to MAX_ROBOTS_REDIRECTS redirects and keeping at
most MAX_ROBOTS_BYTES of it."""


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    """May the URL be fetched? If not, `error` is the record's error kind."""

    allowed: bool
    crawl_delay: float | None = None
    error: ErrorKind = ErrorKind.ROBOTS


@dataclass(frozen=True, slots=True)
class _Rules:
    parser: Protego | None  # None: the whole origin is allowed or disallowed by `allow_all`
    allow_all: bool
    expires: float
    error: ErrorKind = ErrorKind.ROBOTS  # the fetch's own kind when the origin is unreachable


@final
class RobotsCache:
    """Answers "may this URL be fetched?" for our user agent, one robots.txt fetch per origin.

    RFC 9309: 2xx is parsed; 4xx allows everything; 5xx or no answer disallows everything and
    is asked again after a minute. Concurrent requests to a new origin share one fetch.
    """

    def __init__(
        self,
        fetch: RobotsFetch,
        *,
        user_agent: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._agent = product_token(user_agent)
        self._rules: dict[str, _Rules] = {}
        self._pending: dict[str, asyncio.Future[_Rules]] = {}

    async def check(self, url: str, origin: str) -> RobotsVerdict:
        rules = await self._rules_for(origin)
        if rules.parser is None:
            return RobotsVerdict(rules.allow_all, error=rules.error)
        return RobotsVerdict(
            rules.parser.can_fetch(url, self._agent), rules.parser.crawl_delay(self._agent)
        )

    async def sitemaps(self, origin: str) -> list[str]:
        """The `Sitemap:` URLs of the origin's robots.txt."""
        rules = await self._rules_for(origin)
        return list(rules.parser.sitemaps) if rules.parser is not None else []

    async def _rules_for(self, origin: str) -> _Rules:
        rules = self._rules.get(origin)
        if rules is None or rules.expires <= self._clock():
            rules = await self._load(origin)
        return rules

    async def _load(self, origin: str) -> _Rules:
        pending = self._pending.get(origin)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Rules] = asyncio.get_running_loop().create_future()
        self._pending[origin] = future
        try:
            rules = await self._download(origin)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters re-raise it themselves
            raise
        finally:
            del self._pending[origin]
        self._rules[origin] = rules
        future.set_result(rules)
        return rules

    async def _download(self, origin: str) -> _Rules:
        response = await self._fetch(f"{origin}/robots.txt")
        now = self._clock()
        if response.status in _OK:
            text = response.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
            return _Rules(Protego.parse(text), allow_all=True, expires=now + CACHE_TTL_S)
        if response.status in _CLIENT_ERROR or response.error is ErrorKind.TOO_MANY_REDIRECTS:
            # RFC 9309 2.3.1.2-3: more than five redirects means "unavailable", like a 4xx.
            return _Rules(None, allow_all=True, expires=now + CACHE_TTL_S)
        why = response.error or f"status {response.status}"
        log.warning("robots.txt of %s unavailable (%s): not crawling it for now", origin, why)
        # RFC 9309: a server error or no answer means "disallow everything", for now.
        error = response.error or ErrorKind.ROBOTS
        return _Rules(None, allow_all=False, expires=now + UNREACHABLE_RETRY_S, error=error)
