"""The watchdog: gives up requests busy too long, and notices a crawl that makes no progress.

It cancels workers and stores nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import final

from crawler.models import CrawlRequest

log = logging.getLogger("crawler")

Worker = asyncio.Task[None]


@final
class Watchdog:
    """Workers report each request they start (`begin`) and finish (`end`). A request busy
    longer than `limit` seconds gets its worker cancelled; the worker asks `gave_up` whether
    that cancellation was ours. A crawl that stores nothing for `limit` seconds while no
    request is busy and nothing waits for a time calls `on_stall`."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._busy: dict[Worker, tuple[CrawlRequest, float]] = {}
        self._given_up: set[Worker] = set()

    def begin(self, worker: Worker, request: CrawlRequest) -> None:
        self._busy[worker] = (request, asyncio.get_running_loop().time())

    def end(self, worker: Worker) -> None:
        """The worker's request is no longer busy (stored, deferred, or given up)."""
        self._busy.pop(worker, None)

    def gave_up(self, worker: Worker) -> bool:
        """Whether the worker's cancellation came from here; if so, it is undone."""
        if worker not in self._given_up:
            return False
        self._given_up.discard(worker)
        worker.uncancel()
        return True

    async def watch(
        self,
        progress: Callable[[], object],
        *,
        is_waiting_for_time: Callable[[], bool],
        queued: Callable[[], int],
        on_stall: Callable[[], None],
    ) -> None:
        """Check every few seconds until cancelled, or until the crawl stalls.

        `progress` returns a value that changes whenever the crawl stores something."""
        loop = asyncio.get_running_loop()
        mark, since = progress(), loop.time()
        while True:
            await asyncio.sleep(min(max(self._limit / 4, 0.05), 5.0))
            now = loop.time()
            self._give_up_overdue(now)
            current = progress()
            if current != mark or self._busy or is_waiting_for_time():
                mark, since = current, now
            elif now - since > self._limit:
                log.error(
                    "stalled: nothing stored for %.0f s, %d requests queued, none in flight;"
                    " stopping (a rerun resumes)",
                    now - since,
                    queued(),
                )
                on_stall()
                return

    def _give_up_overdue(self, now: float) -> None:
        for worker, (request, started) in list(self._busy.items()):
            if now - started > self._limit and worker not in self._given_up:
                log.error(
                    "stalled: %s busy for %.0f s (stall_timeout %g s); giving it up",
                    request.url,
                    now - started,
                    self._limit,
                    extra={"url": request.url},
                )
                self._given_up.add(worker)
                worker.cancel()
