"""`Crawler`: the library's entry point. Your routes and hooks around the engine, over a store.

It opens the store (unless it is given one) and hands it to the engine; it fetches,
parses and decides nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, final

from crawler.config import Config
from crawler.engine import Engine, signals_handled
from crawler.errors import UsageError
from crawler.logs import configure_logging
from crawler.middleware import Middleware
from crawler.models import CrawlSummary, FollowRequest, Target
from crawler.page import Request
from crawler.progress import CrawlProgress, report_end, show_progress
from crawler.router import RouteProcessor, Router
from crawler.seeds import crawl_seeds, first_checked
from crawler.store import Storage, open_storage
from crawler.urls import mask_credentials

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from crawler.metrics import CrawlMetrics, MetricsServer

log = logging.getLogger("crawler")

T = TypeVar("T")


@final
class Crawler:
    """A crawl with your parsers: register routes, then `run(seeds)` (or `await crawl(seeds)`).

    The engine, politeness, retries, proxies and store come from `config` (every CLI setting,
    by the same names); records and items go to the database `config.db` names, or to
    `storage` when one is given (it stays open: the caller closes it).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        router: Router | None = None,
        middlewares: Sequence[Middleware] = (),
        storage: Storage | None = None,
    ) -> None:
        self.config = config or Config()
        self.router = router or Router()
        self.middlewares = list(middlewares)
        self.storage = storage
        self.metrics: CrawlMetrics | None = None
        """The last crawl's Prometheus metrics (`metrics.registry`) when `metrics_port` is set."""
        self._engine: Engine | None = None
        self.route = self.router.route
        self.pipeline = self.router.pipeline
        self.on_start = self.router.on_start
        self.on_page = self.router.on_page
        self.on_error = self.router.on_error
        self.on_finish = self.router.on_finish

    def use(self, middleware: Middleware) -> Middleware:
        """Add a request middleware (after those already added); returns it."""
        self.middlewares.append(middleware)
        return middleware

    def with_config(self, config: Config) -> Crawler:
        """The same routes, pipelines, hooks and middlewares with another configuration."""
        return Crawler(
            config, router=self.router, middlewares=self.middlewares, storage=self.storage
        )

    def progress(self) -> CrawlProgress:
        """Live counters of the running crawl (zeros before it starts)."""
        return self._engine.refresh_progress() if self._engine else CrawlProgress()

    async def crawl(
        self, seeds: Iterable[str | Request | Target] | str, *, handle_signals: bool = False
    ) -> CrawlSummary:
        """Crawl from `seeds` (URLs or `Request`s) until done or stopped; resumes the crawl
        stored in `config.db`. With `handle_signals`, SIGINT/SIGTERM stop it gracefully.

        Raises `SeedError` when no seed is a valid http(s) URL, `StorageError` when the
        database cannot be used."""
        targets = first_checked(crawl_seeds(seeds))
        self._engine = None
        server = self._serve_metrics()
        try:
            summary = await self._crawl(targets, handle_signals)
        finally:
            if server is not None:
                server.close()
        for finish_hook in self.router.on_finish:
            await finish_hook(summary)
        return summary

    def _serve_metrics(self) -> MetricsServer | None:
        """Fresh metrics, served while the crawl runs, when `metrics_port` is set."""
        port = self.config.metrics_port
        self.metrics = None
        if port is None:
            return None
        from crawler.metrics import CrawlMetrics, MetricsServer  # noqa: PLC0415 (see above)

        self.metrics = CrawlMetrics()
        try:
            server = MetricsServer(self.metrics, port)
        except (OSError, OverflowError) as error:
            reason = error.strerror if isinstance(error, OSError) else "port out of range"
            raise UsageError(f"cannot serve metrics on port {port}: {reason}") from None
        url = f"http://localhost:{port}/metrics"
        log.info("metrics served at %s", url, extra={"url": url})
        return server

    async def _crawl(
        self, targets: Iterator[Target | FollowRequest], handle_signals: bool
    ) -> CrawlSummary:
        early: list[int] = []  # signals that came before the engine existed
        with signals_handled(handle_signals, lambda number: self._on_signal(number, early)):
            storage = self.storage
            if storage is None:
                log.info("crawl started", extra={"db": mask_credentials(str(self.config.db))})
                storage = await open_storage(self.config.db, config=self.config)
            else:
                log.info("crawl started")
            try:
                for start_hook in self.router.on_start:
                    await start_hook()
                processor = (
                    None if self.router.is_empty else RouteProcessor(self.router, self.config)
                )
                engine = Engine(
                    self.config,
                    storage,
                    processor=processor,
                    middlewares=self.middlewares,
                    metrics=self.metrics,
                )
                self._engine = engine
                if early:
                    engine.stop(early[0])
                summary = await engine.run(targets)
            finally:
                if storage is not self.storage:
                    await storage.close()
        return summary

    def _on_signal(self, number: int, early: list[int]) -> None:
        if self._engine is not None:
            self._engine.handle_signal(number)
            return
        log.warning("received %s before the crawl began: stopping", signal.Signals(number).name)
        early.append(number)

    def run(self, seeds: Iterable[str | Request | Target] | str) -> CrawlSummary:
        """`crawl()` for synchronous code: runs its own event loop (uvloop when installed);
        Ctrl-C stops the crawl gracefully and returns. Shows progress and a summary as the
        command line does: in the configured log format, unless the program has set up
        logging itself (then the lines go to its handlers, and no live display is drawn)."""
        ours = not logging.getLogger().handlers and not log.handlers
        if ours:
            configure_logging(self.config.log_format, self.config.log_level)
        in_main_thread = threading.current_thread() is threading.main_thread()
        return run_async(self.crawl_and_report(seeds, handle_signals=in_main_thread, live=ours))

    async def crawl_and_report(
        self,
        seeds: Iterable[str | Request | Target] | str,
        *,
        handle_signals: bool = False,
        live: bool = True,
    ) -> CrawlSummary:
        """`crawl()`, with progress (live on a terminal if `live` and `config.progress`, else a
        log line every `progress_interval`) and how it ended, as the command line shows them."""
        async with show_progress(
            self.progress,
            live=live and self.config.progress,
            interval_s=self.config.progress_interval,
        ) as display:
            summary = await self.crawl(seeds, handle_signals=handle_signals)
        where = "the given storage" if self.storage else mask_credentials(str(self.config.db))
        report_end(self.progress(), summary.reason, where, live=display.live)
        return summary


def run_async(work: Coroutine[object, object, T]) -> T:
    """Run on uvloop when it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415  # optional: the crawler works without it
    except ImportError:
        return asyncio.run(work)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


async def read_items(db: Path | str) -> AsyncIterator[StoredItem]:
    """Every item stored in a crawl database, in the order they were produced."""
    storage = await open_storage(db, read_only=True)
    try:
        async with contextlib.aclosing(storage.iter_items()) as items:
            async for item in items:
                yield StoredItem(item.url, item.handler, json.loads(item.data))
    finally:
        await storage.close()


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored: the page it came from, the handler that made it, its data."""

    url: str
    handler: str
    data: dict[str, object]
