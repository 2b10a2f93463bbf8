"""The crawl: a bounded pool of workers between the frontier, the shared session and the store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, final

from yarl import URL

from crawler.config import Config
from crawler.discovery import SitemapLoader
from crawler.errors import ErrorKind
from crawler.frontier import Frontier, FrontierLimits
from crawler.http import (
    Fetcher,
    build_session,
    build_socks_sessions,
    resolve_addresses,
)
from crawler.middleware import Middleware, Retry, RotatingProxy
from crawler.models import (
    CrawlRequest,
    DocumentResponse,
    FetchResult,
    FollowRequest,
    Outcome,
    PageOutput,
    PageRecord,
    RunEnd,
    Target,
)
from crawler.parse import (
    NOINDEX_DIRECTIVES,
    PageLinks,
    extract_links,
    header_directives,
    header_says_nofollow,
    meta_says_noindex,
)
from crawler.politeness import Policies, PoliteFetch
from crawler.robots import RobotsCache, product_token
from crawler.store import Storage
from crawler.throttle import Throttle
from crawler.urls import ScopePolicy, TrapLimits, origin_of, trap_reason
from crawler.watchdog import Watchdog

log = logging.getLogger("crawler")


class PageProcessor(Protocol):
    """The pluggable step applied to each fetch result: what to follow and what to keep.

    Called for every result, failed ones included. Links and follow-up requests still go
    through scope, deduplication, depth and trap limits.
    """

    async def __call__(self, result: FetchResult, scope: ScopePolicy, /) -> PageOutput: ...


StopReason = Literal["finished", "stopped", "stalled"]
WRITE_BATCH = 512
SEED_BATCH = 10_000
SEEN_CACHE_SIZE = 50_000


@final
class LinkFollower:
    """The default page step: the links of HTML pages, nothing for anything else.

    With `obey_nofollow`, nothing from a page whose X-Robots-Tag or robots meta tag says
    nofollow, and no link marked rel="nofollow".
    """

    def __init__(
        self, *, obey_nofollow: bool = True, agent: str = "crawler", limit: int | None = None
    ) -> None:
        self._obey_nofollow = obey_nofollow
        self._agent = agent
        self._limit = limit

    @classmethod
    def for_config(cls, config: Config) -> LinkFollower:
        """The link step as the crawl's settings ask: robots meta, product token, link cap."""
        return cls(
            obey_nofollow=not config.ignore_robots_meta,
            agent=product_token(config.user_agent),
            limit=config.max_links_per_page,
        )

    async def __call__(self, result: FetchResult, scope: ScopePolicy | None = None) -> PageOutput:
        links = self.links(result)
        return PageOutput(links, dropped_links=links.dropped)

    def links(self, result: FetchResult) -> PageLinks:
        """The page's links, in document order (none if it is not HTML or says nofollow); past
        `limit`, only counted."""
        if not result.is_html:
            return PageLinks()
        if self._obey_nofollow and header_says_nofollow(result.robots_tag, self._agent):
            return PageLinks()
        return extract_links(
            result.body,
            result.final_url,
            charset=result.charset,
            obey_nofollow=self._obey_nofollow,
            limit=self._limit,
        )


follow_html_links = LinkFollower()
"""Follows HTML links, obeying nofollow: the step most custom steps build on."""


@dataclass
class CrawlProgress:
    """Live counters of this run, read by the progress display."""

    started: float = field(default_factory=time.monotonic)
    done: int = 0
    errors: int = 0
    done_before: int = 0
    queued: int = 0
    in_flight: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    """How a run ended."""

    reason: StopReason
    pages: int
    errors: int
    elapsed_s: float
    signal: int | None = None


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


@final
class RecordWriter:
    """Stores outcomes in batches on one task, so workers never wait for SQLite."""

    def __init__(self, storage: Storage, frontier: Frontier, progress: CrawlProgress) -> None:
        self._storage = storage
        self._frontier = frontier
        self._progress = progress
        self._pending: list[Outcome] = []
        self._has_pending = asyncio.Event()
        self._closing = False

    def submit(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._has_pending.set()

    async def run(self) -> None:
        while True:
            await self._has_pending.wait()
            self._has_pending.clear()
            while self._pending:
                batch = self._pending[:WRITE_BATCH]
                del self._pending[:WRITE_BATCH]
                discovered = await self._storage.mark_done(batch)
                self._progress.done += len(batch)
                self._progress.errors += sum(1 for o in batch if o.record.error is not None)
                self._frontier.settle(len(batch), discovered=discovered)
            if self._closing:
                return

    async def close(self) -> None:
        """Store everything submitted, then end `run()`."""
        self._closing = True
        self._has_pending.set()


@final
class Engine:
    """Runs one crawl over a store: seeds in, records out."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        processor: PageProcessor | None = None,
        middlewares: Sequence[Middleware] = (),
        progress: CrawlProgress | None = None,
    ) -> None:
        self._config = config
        self._storage = storage
        proxies = list(config.proxy_urls)
        self._proxy_urls = tuple(proxies)
        self._proxies = (
            RotatingProxy(
                proxies,
                strategy=config.proxy_strategy,
                ban_statuses=frozenset(config.proxy_ban_statuses),
                max_per_proxy=config.proxy_concurrency,
            )
            if proxies
            else None
        )
        retry = Retry(config)
        # The default chain: robots.txt (added by PoliteFetch), retry, the user's, proxies.
        self._middlewares = (retry, *middlewares, *([self._proxies] if self._proxies else []))
        self._processor = processor or LinkFollower.for_config(config)
        self._traps = TrapLimits(
            config.max_url_length, config.max_path_depth, config.max_segment_repeats
        )
        self.progress = progress or CrawlProgress()
        self._seen = SeenCache(SEEN_CACHE_SIZE)
        self._frontier: Frontier | None = None
        self._seed_hostnames: frozenset[str] = frozenset()
        self._seed_origins: list[str] = []
        self._stopping = False
        self._stop_signal: int | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._grace_timer: asyncio.TimerHandle | None = None
        self._watchdog = Watchdog(config.stall_timeout)
        self._stalled = False
        self._deferred = 0

    def stop(self, signal_number: int | None = None) -> None:
        """Stop taking work; in-flight requests get `shutdown_grace` seconds, or none on a
        second call."""
        if self._stopping:
            self._cancel_workers()
            return
        self._stopping = True
        self._stop_signal = signal_number
        if self._frontier is not None:
            self._frontier.stop()
        self._grace_timer = asyncio.get_running_loop().call_later(
            self._config.shutdown_grace, self._cancel_workers
        )

    def _cancel_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()

    def refresh_progress(self) -> CrawlProgress:
        """The progress counters, with the frontier's current figures filled in."""
        if self._frontier is not None:
            self.progress.queued = self._frontier.queued
            self.progress.in_flight = self._frontier.in_flight
        return self.progress

    async def run(
        self, seeds: Iterable[Target | FollowRequest], *, handle_signals: bool = False
    ) -> CrawlSummary:
        """Crawl from `seeds` (added to the store unless already there) until done or stopped.

        The seeds are read in batches as they are stored: an iterator of millions is fine."""
        if handle_signals:
            self._install_signal_handlers()
        try:
            await self._run(seeds)
        finally:
            if handle_signals:
                self._remove_signal_handlers()
            if self._grace_timer is not None:
                self._grace_timer.cancel()
        self.refresh_progress()
        proxies = self._proxies.figures if self._proxies is not None else {}
        if proxies:
            shown = {proxy: figures.as_dict() for proxy, figures in proxies.items()}
            log.info("proxies: %s", shown, extra={"proxies": shown})
        await self._storage.save_run(RunEnd(proxies, host_budget=self._config.max_pages_per_host))
        return CrawlSummary(
            reason="stalled" if self._stalled else "stopped" if self._stopping else "finished",
            pages=self.progress.done,
            errors=self.progress.errors,
            elapsed_s=self.progress.elapsed_s,
            signal=self._stop_signal,
        )

    async def _run(self, seeds: Iterable[Target | FollowRequest]) -> None:
        hostnames = await self._store_seeds(seeds)
        scope = ScopePolicy(
            self._config.scope,
            hostnames,
            allow=self._config.allow,
            deny=self._config.deny,
        )
        totals = await self._storage.totals(by_host=self._config.max_pages_per_host is not None)
        self.progress.done_before = totals.done
        max_pages = self._config.max_pages
        budget = None if max_pages is None else max(max_pages - totals.done, 0)
        limits = FrontierLimits(
            concurrency=self._config.concurrency,
            per_host=self._config.per_host,
            delay=self._config.delay,
            page_budget=budget,
            host_budget=self._config.max_pages_per_host,
        )
        frontier = Frontier(
            self._storage,
            limits,
            queued=totals.queued,
            done_by_host=totals.done_by_host,
        )
        self._frontier = frontier
        if self._stopping:
            frontier.stop()
        await self._crawl(frontier, scope)

    async def _store_seeds(self, seeds: Iterable[Target | FollowRequest]) -> frozenset[str]:
        """Queue the seeds batch by batch; returns their hostnames (the crawl's scope)."""
        hostnames: set[str] = set()
        origins: dict[str, None] = {}
        batch: list[CrawlRequest] = []
        read = added = 0
        for seed in seeds:
            read += 1
            target = seed if isinstance(seed, Target) else seed.target
            options = None if isinstance(seed, Target) else seed.options
            batch.append(CrawlRequest(target.url, target.host, 0, options=options))
            hostnames.add(target.hostname)
            origins.setdefault(origin_of(target.url))
            if len(batch) >= SEED_BATCH:
                added += await self._storage.add_requests(batch)
                batch = []
                if self._stopping:  # a signal while reading seeds: a rerun reads them again
                    break
        added += await self._storage.add_requests(batch)
        log.info("%d seeds read, %d of them new to the crawl", read, added)
        self._seed_hostnames = frozenset(hostnames)
        self._seed_origins = list(origins)
        return self._seed_hostnames

    async def _crawl(self, frontier: Frontier, scope: ScopePolicy) -> None:
        writer = RecordWriter(self._storage, frontier, self.progress)
        writer_task = asyncio.create_task(writer.run(), name="record-writer")
        writer_task.add_done_callback(self._on_writer_done)
        in_flight: dict[asyncio.Task[None], CrawlRequest | None] = {}
        # The seeds' hosts and the configured proxies are named by the user: the private-network
        # guard lets them through.
        proxy_hosts = {URL(proxy).host or "" for proxy in self._proxy_urls}
        seed_addresses = await resolve_addresses(self._seed_hostnames | proxy_hosts)
        async with (
            build_session(self._config, private_addresses_allowed=seed_addresses) as session,
            contextlib.AsyncExitStack() as socks_stack,
        ):
            socks = build_socks_sessions(self._config, self._proxy_urls)
            for socks_session in socks.values():
                await socks_stack.enter_async_context(socks_session)
            fetcher = Fetcher(session, max_size=self._config.max_size, socks_sessions=socks)
            robots = None
            if not self._config.ignore_robots:
                robots = RobotsCache(
                    self._document_fetch(fetcher.fetch_robots), user_agent=self._config.user_agent
                )
            throttle = Throttle(
                per_host=self._config.per_host,
                base_delay=self._config.delay,
                adaptive=self._config.adaptive_throttle,
            )
            gate = PoliteFetch(
                fetcher,
                frontier,
                self._storage,
                Policies(robots, throttle, scope),
                self._middlewares,
            )
            workers = [
                asyncio.create_task(self._work(frontier, gate, writer, scope, in_flight))
                for _ in range(self._config.concurrency)
            ]
            for worker in workers:
                in_flight[worker] = None
            self._workers = workers
            watchdog = (
                asyncio.create_task(self._watch(frontier), name="watchdog")
                if self._config.stall_timeout > 0
                else None
            )
            sitemaps = None
            if self._config.sitemaps and self._config.max_depth != 0:
                max_bytes = self._config.max_size

                async def fetch_sitemap(url: str, proxy: str | None) -> DocumentResponse:
                    return await fetcher.fetch_document(url, max_bytes=max_bytes, proxy=proxy)

                loader = SitemapLoader(
                    self._document_fetch(fetch_sitemap),
                    robots,
                    self._storage,
                    scope=scope,
                    traps=self._traps,
                )
                sitemaps = asyncio.create_task(loader.load(self._seed_origins, frontier))
            await asyncio.gather(*workers, return_exceptions=True)
            if watchdog is not None:
                watchdog.cancel()
                await asyncio.gather(watchdog, return_exceptions=True)
            if sitemaps is not None:
                sitemaps.cancel()
                await asyncio.gather(sitemaps, return_exceptions=True)
            unfinished = [request for request in in_flight.values() if request is not None]
        await writer.close()
        await writer_task
        await self._storage.release([*unfinished, *frontier.take_held()])

    def _document_fetch(
        self, fetch: Callable[[str, str | None], Awaitable[DocumentResponse]]
    ) -> Callable[[str], Awaitable[DocumentResponse]]:
        """`fetch` for the crawler's own documents, through the proxies when there are some."""
        proxies = self._proxies

        async def through_proxies(url: str) -> DocumentResponse:
            if proxies is None:
                return await fetch(url, None)
            return await proxies.fetch_document(url, fetch)

        return through_proxies

    def _on_writer_done(self, task: asyncio.Task[None]) -> None:
        """If storing fails the crawl cannot go on: stop the workers; `_crawl` re-raises."""
        if not task.cancelled() and task.exception() is not None:
            if self._frontier is not None:
                self._frontier.stop()
            self._cancel_workers()

    async def _work(
        self,
        frontier: Frontier,
        fetcher: PoliteFetch,
        writer: RecordWriter,
        scope: ScopePolicy,
        in_flight: dict[asyncio.Task[None], CrawlRequest | None],
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        while (request := await frontier.next()) is not None:
            in_flight[task] = request
            self._watchdog.begin(task, request)
            try:
                outcome = await self._process(request, frontier, fetcher, scope, in_flight)
            except asyncio.CancelledError:
                if not self._watchdog.gave_up(task):
                    raise
                outcome = self._given_up(request, frontier, in_flight)
            finally:
                self._watchdog.end(task)
            if outcome is not None:
                writer.submit(outcome)

    async def _process(
        self,
        request: CrawlRequest,
        frontier: Frontier,
        fetcher: PoliteFetch,
        scope: ScopePolicy,
        in_flight: dict[asyncio.Task[None], CrawlRequest | None],
    ) -> Outcome | None:
        """Fetch and process one request: its outcome, or None if it was deferred to retry."""
        try:
            result = await fetcher.fetch(request)
        except Exception as exc:  # the worker boundary: one request must never kill the crawl
            log.error("fetching %s failed unexpectedly: %r", request.url, exc, exc_info=exc)
            result = FetchResult.failed(request, ErrorKind.INTERNAL)
        frontier.finish(request)
        task = asyncio.current_task()
        assert task is not None
        in_flight[task] = None
        if result.retry_in is not None:
            self._watchdog.end(task)  # storing is not "stuck": the watchdog leaves it be
            await self._defer(result, frontier)
            return None
        outcome = await self._outcome(result, scope)
        self._watchdog.end(task)
        return outcome

    def _given_up(
        self,
        request: CrawlRequest,
        frontier: Frontier,
        in_flight: dict[asyncio.Task[None], CrawlRequest | None],
    ) -> Outcome:
        """The watchdog cancelled a request busy too long: record it `stalled`."""
        task = asyncio.current_task()
        assert task is not None
        if in_flight.get(task) is request:
            frontier.finish(request)
            in_flight[task] = None
        result = FetchResult.failed(request, ErrorKind.STALLED)
        return Outcome(request, _record(result, ErrorKind.STALLED))

    async def _watch(self, frontier: Frontier) -> None:
        def on_stall() -> None:
            self._stalled = True
            self.stop()

        await self._watchdog.watch(
            lambda: (self.progress.done, self._deferred),
            is_waiting_for_time=lambda: frontier.is_waiting_for_time,
            queued=lambda: frontier.queued,
            on_stall=on_stall,
        )

    async def _defer(self, result: FetchResult, frontier: Frontier) -> None:
        """Back to the store, to be tried again later; no worker waits for it."""
        request = result.request
        delay = result.retry_in or 0.0
        not_before = time.time() + delay
        retried = replace(request, retries=request.retries + 1)
        await self._storage.release([retried], not_before=not_before)
        self._deferred += 1
        frontier.watch_deferred(not_before)
        frontier.settle(1, discovered=0)
        log.debug("retrying %s in %.1f s (%s)", request.url, delay, result.error or result.status)

    async def _outcome(self, result: FetchResult, scope: ScopePolicy) -> Outcome:
        request = result.request
        try:
            output = await self._processor(result, scope)
        except Exception as exc:  # the worker boundary: a page must never kill the crawl
            log.warning("processing %s failed: %s", request.url, exc, exc_info=exc)
            output = PageOutput(error=ErrorKind.HANDLER)
        discovered, limits_hit = self._discovered(request, output, scope)
        record = _record(result, output.error or result.error)
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
            self._body_to_keep(result),
            output.items,
        )

    def _body_to_keep(self, result: FetchResult) -> bytes | None:
        keep = self._config.store_bodies
        if keep == "none" or result.status is None or result.error not in (None, ErrorKind.HTTP):
            return None
        if keep == "html" and not result.is_html:
            return None
        if self._config.ignore_robots_meta:
            return result.body
        agent = product_token(self._config.user_agent)
        if header_directives(result.robots_tag, agent) & NOINDEX_DIRECTIVES:
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
        max_depth = self._config.max_depth
        links, follows = output.links, output.follows
        if not (links or follows) or (max_depth is not None and depth > max_depth):
            return (), {}
        limits_hit: Counter[str] = Counter()
        room = self._config.max_links_per_page
        if output.dropped_links:
            limits_hit["links_per_page"] = output.dropped_links
        if len(links) + len(follows) > room:
            limits_hit["links_per_page"] += len(links) + len(follows) - room
            follows = follows[:room]
            links = links[: room - len(follows)]
        discovered = []
        seen = self._seen
        is_seen = seen.contains
        for link in links:
            # Most links of a page were seen before: that test is the cheaper one, so it is first.
            if is_seen(link.url) or not scope.is_in_scope(link):
                continue
            seen.add(link.url)
            trap = trap_reason(link.url, self._traps)
            if trap is not None:
                limits_hit[trap] += 1
                continue
            discovered.append(CrawlRequest(link.url, link.host, depth, request.url))
        for follow in follows:
            target = follow.target
            new = CrawlRequest(target.url, target.host, depth, request.url, options=follow.options)
            if not scope.is_in_scope(target) or not self._seen.add(new.dedup_key):
                continue
            trap = trap_reason(target.url, self._traps)
            if trap is not None:
                limits_hit[trap] += 1
                continue
            discovered.append(new)
        return tuple(discovered), dict(limits_hit)

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, self.handle_signal, number)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)

    def handle_signal(self, number: int) -> None:
        """SIGINT or SIGTERM: the first stops gracefully, the second at once."""
        first = self._stop_signal is None
        log.warning(
            "received %s: %s",
            signal.Signals(number).name,
            "finishing in-flight requests" if first else "stopping now",
        )
        self.stop(number)


def _record(result: FetchResult, error: ErrorKind | str | None) -> PageRecord:
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
