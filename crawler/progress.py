"""Progress: the live counters of a run, shown as a line on a terminal, else logged now and
then.

It reads the counters and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live

log = logging.getLogger("crawler")
LIVE_REFRESH_S = 0.5


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


def describe(progress: CrawlProgress) -> str:
    return (
        f"{progress.done} pages ({progress.errors} errors), {progress.queued} queued,"
        f" {progress.in_flight} in flight, {progress.rate:.1f} pages/s"
    )


def log_fields(progress: CrawlProgress) -> dict[str, object]:
    return {
        "pages": progress.done,
        "errors": progress.errors,
        "queued": progress.queued,
        "in_flight": progress.in_flight,
        "pages_per_s": round(progress.rate, 1),
        "elapsed_s": round(progress.elapsed_s, 1),
    }


@contextlib.asynccontextmanager
async def show_progress(
    read: Callable[[], CrawlProgress], *, live: bool, interval_s: float
) -> AsyncIterator[None]:
    """Report `read()` while the block runs: live on stderr if `live` and it is a terminal."""
    if live and sys.stderr.isatty():
        # rich is imported only when there is a terminal to draw on: jobs start faster without it.
        from rich.console import Console  # noqa: PLC0415
        from rich.live import Live  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        console = Console(stderr=True)
        with Live(Text(describe(read())), console=console, transient=True) as display:
            task = asyncio.create_task(_refresh(display, read))
            try:
                yield
            finally:
                task.cancel()
    else:
        task = asyncio.create_task(_log_periodically(read, interval_s))
        try:
            yield
        finally:
            task.cancel()


async def _refresh(display: Live, read: Callable[[], CrawlProgress]) -> None:
    from rich.text import Text  # noqa: PLC0415

    while True:
        await asyncio.sleep(LIVE_REFRESH_S)
        display.update(Text(describe(read())))


async def _log_periodically(read: Callable[[], CrawlProgress], interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        progress = read()
        log.info("progress: %s", describe(progress), extra=log_fields(progress))
