"""Wires one crawl's parts from its `Config`: proxies, the request chain, the throttle, and,
while the crawl runs, the session, robots.txt, the polite fetch and the sitemap loader.

Settings become components here: each component gets the values it needs, or the part of
`Config` it works from, typed as that part (`Limits` for the frontier, `RetryPolicy` for
retries); the session, which needs values of four parts, gets the whole `Config`.

It runs nothing: the engine does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from yarl import URL

from crawler.addresses import resolve_addresses
from crawler.config import Config
from crawler.discovery import SitemapLoader
from crawler.frontier import Frontier
from crawler.http import Fetcher, build_session, build_socks_sessions
from crawler.middleware import Middleware, Retry, RotatingProxy
from crawler.models import DocumentResponse
from crawler.outcome import OutcomePolicy, OutcomeRules
from crawler.politeness import Policies, PoliteFetch
from crawler.robots import MAX_ROBOTS_BYTES, MAX_ROBOTS_REDIRECTS, RobotsCache
from crawler.store import Storage
from crawler.throttle import Throttle
from crawler.urls import ScopePolicy

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from crawler.metrics import CrawlMetrics

DocumentFetch = Callable[[str, str | None], Awaitable[DocumentResponse]]


@dataclass(frozen=True, slots=True)
class Network:
    """The parts that talk to the sites, open while the crawl runs."""

    polite_fetch: PoliteFetch
    sitemaps: SitemapLoader | None


@final
class CrawlBuilder:
    """One crawl's parts. The proxies file is read here (again: `Config` checked it already)."""

    def __init__(
        self,
        config: Config,
        middlewares: Sequence[Middleware] = (),
        metrics: CrawlMetrics | None = None,
    ) -> None:
        self._config = config
        self._rules = OutcomeRules.for_config(config)
        self._proxy_urls = config.proxy_urls()
        self.proxies = (
            RotatingProxy(
                self._proxy_urls,
                strategy=config.proxy_strategy,
                ban_statuses=frozenset(config.proxy_ban_statuses),
                max_per_proxy=config.proxy_concurrency,
            )
            if self._proxy_urls
            else None
        )
        self.throttle = Throttle(
            per_host=config.per_host,
            base_delay=config.delay,
            adaptive=config.adaptive_throttle,
        )
        # The default chain: robots.txt (added by PoliteFetch), retry, the user's, proxies,
        # and when metrics are on, the count of what goes out.
        self._middlewares = (
            Retry(config),
            *middlewares,
            *([self.proxies] if self.proxies else []),
            *([metrics.request_counter()] if metrics else []),
        )
        if metrics is not None and self.proxies is not None:
            metrics.watch_proxies(lambda: self.proxies.figures if self.proxies else {})

    def outcome_policy(self) -> OutcomePolicy:
        return OutcomePolicy(self._rules)

    @contextlib.asynccontextmanager
    async def network(
        self,
        storage: Storage,
        frontier: Frontier,
        scope: ScopePolicy,
        seed_hostnames: frozenset[str],
    ) -> AsyncIterator[Network]:
        """The session (and one per SOCKS proxy), robots.txt, the polite fetch and the sitemap
        loader, closed when the block ends."""
        config = self._config
        # The seeds' hosts and the configured proxies are named by the user: the private-network
        # guard lets them through.
        proxy_hosts = {URL(proxy).host or "" for proxy in self._proxy_urls}
        allowed = await resolve_addresses(seed_hostnames | proxy_hosts)
        async with (
            build_session(config, private_addresses_allowed=allowed) as session,
            contextlib.AsyncExitStack() as socks_sessions,
        ):
            socks = build_socks_sessions(config, self._proxy_urls)
            for socks_session in socks.values():
                await socks_sessions.enter_async_context(socks_session)
            fetcher = Fetcher(session, max_size=config.max_size, socks_sessions=socks)
            robots = self._robots(fetcher)
            policies = Policies(robots, self.throttle, scope)
            yield Network(
                PoliteFetch(fetcher, frontier, storage, policies, self._middlewares),
                self._sitemap_loader(fetcher, robots, storage, scope),
            )

    def _robots(self, fetcher: Fetcher) -> RobotsCache | None:
        if self._config.ignore_robots:
            return None

        async def fetch_robots(url: str, proxy: str | None) -> DocumentResponse:
            return await fetcher.fetch_document(
                url, max_bytes=MAX_ROBOTS_BYTES, max_redirects=MAX_ROBOTS_REDIRECTS, proxy=proxy
            )

        return RobotsCache(self._document_fetch(fetch_robots), user_agent=self._config.user_agent)

    def _sitemap_loader(
        self, fetcher: Fetcher, robots: RobotsCache | None, storage: Storage, scope: ScopePolicy
    ) -> SitemapLoader | None:
        config = self._config
        if not config.sitemaps or config.max_depth == 0:
            return None

        async def fetch_sitemap(url: str, proxy: str | None) -> DocumentResponse:
            return await fetcher.fetch_document(url, max_bytes=config.max_size, proxy=proxy)

        return SitemapLoader(
            self._document_fetch(fetch_sitemap),
            robots,
            storage,
            scope=scope,
            traps=self._rules.traps,
        )

    def _document_fetch(self, fetch: DocumentFetch) -> Callable[[str], Awaitable[DocumentResponse]]:
        """`fetch` for the crawler's own documents, through the proxies when there are some."""
        proxies = self.proxies

        async def through_proxies(url: str) -> DocumentResponse:
            if proxies is None:
                return await fetch(url, None)
            return await proxies.fetch_document(url, fetch)

        return through_proxies
