"""The crawl loop: a bounded pool of workers between the frontier, the polite fetch and the store.

The engine schedules and stops; what the parts are comes from `crawler.builder`, what a fetched
page leaves behind from `crawler.outcome`, and where records go from the `Storage` it is given
(it never opens one, and never knows which backend it has).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, final

from crawler.builder import CrawlBuilder, Network
from crawler.config import Config
from crawler.errors import ErrorKind
from crawler.frontier import Frontier
from crawler.middleware import Middleware
from crawler.models import (
    CrawlRequest,
    CrawlSummary,
    FetchResult,
    FollowRequest,
    Outcome,
    PageOutput,
    RunEnd,
    Target,
)
from crawler.outcome import given_up
from crawler.processor import LinkFollower, PageProcessor
from crawler.progress import CrawlProgress
from crawler.recrawl import queue_recrawl
from crawler.seeds import QueuedSeeds, queue_seeds
from crawler.store import Storage
from crawler.urls import ScopePolicy
from crawler.watchdog import Watchdog
from crawler.writer import RecordWriter

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from crawler.metrics import CrawlMetrics

log = logging.getLogger("crawler")

Worker = asyncio.Task[None]


@contextlib.contextmanager
def signals_handled(enabled: bool, handler: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `handler` (on the event loop) while the block runs."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, handler, number)
    try:
        yield
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


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
        metrics: CrawlMetrics | None = None,
    ) -> None:
        """`metrics`, when given, count what the crawl does (see `crawler.metrics`)."""
        self._config = config
        self._storage = storage
        self._metrics = metrics
        self._parts = CrawlBuilder(config, middlewares, metrics)
        self._processor = processor or LinkFollower.for_config(config)
        self._outcomes = self._parts.outcome_policy()
        self.progress = progress or CrawlProgress()
        self.progress.max_pages = config.max_pages
        self._frontier: Frontier | None = None
        self._stopping = False
        self._stop_signal: int | None = None
        self._workers: dict[Worker, CrawlRequest | None] = {}
        """Each worker, and the request it is fetching (None between requests)."""
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

    def handle_signal(self, number: int) -> None:
        """SIGINT or SIGTERM: the first stops gracefully, the second at once."""
        first = self._stop_signal is None
        log.warning(
            "received %s: %s",
            signal.Signals(number).name,
            "finishing in-flight requests" if first else "stopping now",
        )
        self.stop(number)

    def refresh_progress(self) -> CrawlProgress:
        """The progress counters, with the frontier's current figures filled in."""
        if self._frontier is not None:
            self.progress.queued = self._frontier.queued
            self.progress.in_flight = self._frontier.in_flight
            self.progress.hosts_in_delay = self._frontier.hosts_in_delay
            self.progress.retry_due_at = self._frontier.retry_due_at
        return self.progress

    async def run(
        self, seeds: Iterable[Target | FollowRequest], *, handle_signals: bool = False
    ) -> CrawlSummary:
        """Crawl from `seeds` (added to the store unless already there) until done or stopped;
        with `handle_signals`, SIGINT and SIGTERM stop it (see `handle_signal`).

        The seeds are read in batches as they are stored: an iterator of millions is fine."""
        try:
            with signals_handled(handle_signals, self.handle_signal):
                queued = await queue_seeds(self._storage, seeds, is_stopping=lambda: self._stopping)
                await queue_recrawl(self._storage, self._config)
                await self._run(queued)
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
        self.refresh_progress()
        proxies = self._parts.proxies.figures if self._parts.proxies is not None else {}
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

    async def _run(self, seeds: QueuedSeeds) -> None:
        config = self._config
        self._workers = {}
        scope = ScopePolicy(config.scope, seeds.hostnames, allow=config.allow, deny=config.deny)
        totals = await self._storage.totals(by_host=config.max_pages_per_host is not None)
        self.progress.records = totals.recorded
        frontier = Frontier(
            self._storage,
            config,
            delay_of=self._parts.throttle.delay_of,
            page_budget=None
            if config.max_pages is None
            else max(config.max_pages - totals.recorded, 0),
            queued=totals.queued,
            done_by_host=totals.done_by_host,
        )
        self._frontier = frontier
        if self._stopping:
            frontier.stop()
        if self._metrics is not None:
            self._metrics.watch(
                queued=lambda: frontier.queued,
                in_flight=lambda: frontier.in_flight,
                active_hosts=lambda: frontier.active_hosts,
            )
        writer = RecordWriter(self._storage, frontier, self.progress, self._metrics)
        writer_task = asyncio.create_task(writer.run(), name="record-writer")
        writer_task.add_done_callback(self._stop_on_failure)
        async with self._parts.network(self._storage, frontier, scope, seeds.hostnames) as network:
            failure = await self._work_until_done(frontier, network, writer, scope, seeds)
        await writer.close()
        await writer_task
        if failure is not None:  # a worker could not go on (the store failed under it)
            raise failure
        unfinished = [request for request in self._workers.values() if request is not None]
        await self._storage.release([*unfinished, *frontier.take_held()])

    async def _work_until_done(  # the parts one run is made of
        self,
        frontier: Frontier,
        network: Network,
        writer: RecordWriter,
        scope: ScopePolicy,
        seeds: QueuedSeeds,
    ) -> Exception | None:
        """The workers, the watchdog and the sitemap loader, until the frontier runs dry or
        the crawl is stopped; returns what made a worker fail, if one did."""
        for _ in range(self._config.concurrency):
            worker = asyncio.create_task(self._work(frontier, network, writer, scope))
            worker.add_done_callback(self._stop_on_failure)
            self._workers[worker] = None
        helpers = []
        if self._config.stall_timeout > 0:
            helpers.append(asyncio.create_task(self._watch(frontier), name="watchdog"))
        if network.sitemaps is not None:
            helpers.append(asyncio.create_task(network.sitemaps.load(seeds.origins, frontier)))
        ended = await asyncio.gather(*self._workers, return_exceptions=True)
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        return next((result for result in ended if isinstance(result, Exception)), None)

    def _cancel_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()

    def _stop_on_failure(self, task: asyncio.Task[None]) -> None:
        """If storing (or claiming) fails the crawl cannot go on: stop the workers; `_run`
        re-raises."""
        if not task.cancelled() and task.exception() is not None:
            if self._frontier is not None:
                self._frontier.stop()
            self._cancel_workers()

    async def _work(
        self, frontier: Frontier, network: Network, writer: RecordWriter, scope: ScopePolicy
    ) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        while (request := await frontier.next()) is not None:
            self._workers[worker] = request
            self._watchdog.begin(worker, request)
            try:
                outcome = await self._process(worker, request, frontier, network, scope)
            except asyncio.CancelledError:
                if not self._watchdog.gave_up(worker):
                    raise
                outcome = self._stalled_outcome(request, frontier)
            finally:
                self._watchdog.end(worker)
            if outcome is not None:
                writer.submit(outcome)

    async def _process(
        self,
        worker: Worker,
        request: CrawlRequest,
        frontier: Frontier,
        network: Network,
        scope: ScopePolicy,
    ) -> Outcome | None:
        """Fetch and process one request: its outcome, or None if it was deferred to retry."""
        try:
            result = await network.polite_fetch.fetch(request)
        except Exception as exc:  # the worker boundary: one request must never kill the crawl
            log.error("fetching %s failed unexpectedly: %r", request.url, exc, exc_info=exc)
            result = FetchResult.failed(request, ErrorKind.INTERNAL)
        frontier.finish(request)
        self._workers[worker] = None
        if result.retry_in is not None:
            self._watchdog.end(worker)  # storing is not "stuck": the watchdog leaves it be
            await self._defer(result, frontier)
            return None
        try:
            output = await self._processor(result, scope)
        except Exception as exc:  # the worker boundary: a page must never kill the crawl
            log.warning("processing %s failed: %s", request.url, exc, exc_info=exc)
            output = PageOutput(error=ErrorKind.HANDLER)
        outcome = self._outcomes.decide(result, output, scope)
        self._watchdog.end(worker)
        return outcome

    def _stalled_outcome(self, request: CrawlRequest, frontier: Frontier) -> Outcome:
        """The watchdog cancelled a request busy too long: record it `stalled`."""
        worker = asyncio.current_task()
        assert worker is not None
        if self._workers.get(worker) is request:
            frontier.finish(request)
            self._workers[worker] = None
        return given_up(request, ErrorKind.STALLED)

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
        if self._metrics is not None:
            self._metrics.retries.inc()
        frontier.defer(request, not_before)
        frontier.settle(1, discovered=0)
        log.debug("retrying %s in %.1f s (%s)", request.url, delay, result.error or result.status)
