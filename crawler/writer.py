"""The record writer: one task that stores finished requests in batches, so no worker waits for
the database.

The only caller of `Storage.mark_done`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, final

from crawler.frontier import Frontier
from crawler.models import Kept, Outcome
from crawler.progress import CrawlProgress
from crawler.store import Storage

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from crawler.metrics import CrawlMetrics

WRITE_BATCH = 512


@final
class RecordWriter:
    """Stores submitted outcomes, a batch to a transaction, and tells the frontier and the
    progress counters once each batch is stored."""

    def __init__(
        self,
        storage: Storage,
        frontier: Frontier,
        progress: CrawlProgress,
        metrics: CrawlMetrics | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._frontier = frontier
        self._progress = progress
        self._pending: list[Outcome] = []
        self._has_pending = asyncio.Event()
        self._closing = False

    def submit(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._has_pending.set()

    async def run(self) -> None:
        """Store until `close()`; a storage error ends it (and so the crawl)."""
        while True:
            await self._has_pending.wait()
            self._has_pending.clear()
            while self._pending:
                batch = self._pending[:WRITE_BATCH]
                del self._pending[:WRITE_BATCH]
                discovered = await self._storage.mark_done(batch)
                if self._metrics is not None:
                    self._metrics.stored(batch)
                self._progress.done += len(batch)
                self._count(batch)
                self._frontier.settle(len(batch), discovered=discovered)
            if self._closing:
                return

    def _count(self, batch: list[Outcome]) -> None:
        progress = self._progress
        for outcome in batch:
            if outcome.record.error is not None:
                progress.errors += 1
            if outcome.request.last is None:
                progress.records += 1
            elif outcome.kept is Kept.UNCHANGED:
                progress.unchanged += 1

    async def close(self) -> None:
        """Store everything submitted, then end `run()`."""
        self._closing = True
        self._has_pending.set()
