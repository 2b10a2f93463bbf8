"""Progress: the live counters of a run, shown on a terminal above which log lines print whole,
else logged now and then; and the summary at the end.

It reads the counters and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

log = logging.getLogger("crawler")
LIVE_REFRESH_S = 0.5
RATE_WINDOW_S = 10.0  # the rate shown is over this much of the recent past


@dataclass
class CrawlProgress:
    """Live counters of this run, read by the progress display."""

    started: float = field(default_factory=time.monotonic)
    done: int = 0
    errors: int = 0
    done_before: int = 0
    """Requests done before the run (a fleet's supervisor counts its processes' work from it)."""
    records: int = 0
    """Records the database holds, as last counted."""
    unchanged: int = 0
    """Pages fetched again by a recrawl that the server said had not changed (304)."""
    queued: int = 0
    in_flight: int = 0
    max_pages: int | None = None
    """Records at which the crawl stops, counting those of earlier runs; None: no limit."""
    hosts_in_delay: int = 0
    """Hosts with work waiting until their delay (Crawl-delay, --delay, slowed down) passes."""
    retry_due_at: float | None = None
    """When (epoch seconds) the next postponed retry is due, if one waits."""

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Pages a second over the whole run."""
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def percent_done(self) -> float | None:
        if not self.max_pages:
            return None
        return min(100.0, 100.0 * self.records / self.max_pages)


class RecentRate:
    """Pages a second over the last RATE_WINDOW_S seconds, not the whole run: a crawl that
    waits shows 0, not an average that sinks slowly."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def __call__(self, progress: CrawlProgress) -> float:
        now = time.monotonic()
        self._samples.append((now, progress.done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window_s:
            self._samples.popleft()
        since, done_then = self._samples[0]
        if now - since < min(1.0, self._window_s / 2):  # too soon to say: the run's rate
            return progress.rate
        return (progress.done - done_then) / (now - since)


def clock(seconds: float) -> str:
    """`H:MM:SS`."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def status_lines(progress: CrawlProgress, rate: float, *, grouped: bool = True) -> list[str]:
    """What the crawl is doing, in lines of at most 80 columns; `grouped`: 1,234 not 1234."""
    n = "{:,}".format if grouped else str
    shown_rate = n(round(rate, 1) if rate < 100 else round(rate))
    done = (
        f"{n(progress.done)} pages ({n(progress.errors)} errors) · {shown_rate} pages/s"
        f" · {clock(progress.elapsed_s)} elapsed"
    )
    to_do = [f"{n(progress.queued)} queued", f"{n(progress.in_flight)} in flight"]
    percent = progress.percent_done
    if percent is not None and progress.max_pages is not None:
        to_do.append(f"{int(percent)}% of {n(progress.max_pages)}")  # 100% only when done
        left = progress.max_pages - progress.records
        if rate > 0 and left > 0:
            to_do.append(f"ETA {clock(left / rate)}")
    lines = [done, " · ".join(to_do)]
    waiting = waiting_for(progress)
    if waiting:
        lines.append("waiting: " + "; ".join(waiting))
    return lines


def waiting_for(progress: CrawlProgress) -> list[str]:
    """Why nothing moves, when nothing is in flight but work remains."""
    if progress.in_flight:
        return []
    reasons = []
    if progress.retry_due_at is not None:
        due = time.strftime("%H:%M:%S", time.localtime(progress.retry_due_at))
        reasons.append(f"next retry due at {due}")
    if progress.hosts_in_delay:
        hosts = "host" if progress.hosts_in_delay == 1 else "hosts"
        reasons.append(f"{progress.hosts_in_delay:,} {hosts} waiting out their delay")
    return reasons


def describe(progress: CrawlProgress, rate: float | None = None) -> str:
    """One line for a log: the status lines joined, numbers as digits only."""
    shown_rate = progress.rate if rate is None else rate
    return " · ".join(status_lines(progress, shown_rate, grouped=False))


def log_fields(progress: CrawlProgress) -> dict[str, object]:
    return {
        "pages": progress.done,
        "errors": progress.errors,
        "unchanged": progress.unchanged,
        "queued": progress.queued,
        "in_flight": progress.in_flight,
        "pages_per_s": round(progress.rate, 1),
        "elapsed_s": round(progress.elapsed_s, 1),
    }


def summary_lines(progress: CrawlProgress, ended: str, records: int, db: str) -> list[str]:
    """The end of a run for a person at a terminal, in lines of at most 80 columns."""
    unchanged = [f"  of them  {progress.unchanged:,} unchanged (304)"] if progress.unchanged else []
    return [
        f"crawl {ended} after {clock(progress.elapsed_s)}",
        f"  pages    {progress.done:,} ({progress.errors:,} errors), {progress.rate:,.1f} pages/s",
        *unchanged,
        f"  queued   {progress.queued:,}",
        f"  records  {records:,} in {db}",
    ]


def report_end(
    progress: CrawlProgress, ended: str, db: str, *, live: bool, **fields: object
) -> None:
    """How the run ended: lines on the terminal that showed the live display, else a log line
    (with `fields` among its extra fields)."""
    records = progress.records
    if live:
        print("\n".join(summary_lines(progress, ended, records, db)), file=sys.stderr)
        return
    log.info(
        "crawl %s: %s; %d records in %s",
        ended,
        describe(progress),
        records,
        db,
        extra={**log_fields(progress), "reason": ended, "records": records, **fields},
    )


def is_live(live: bool) -> bool:
    """Whether progress is drawn live: asked for, and stderr is a terminal."""
    return live and sys.stderr.isatty()


@dataclass
class ProgressDisplay:
    """Whether progress is drawn live on a terminal (else it is logged)."""

    live: bool


@contextlib.asynccontextmanager
async def show_progress(
    read: Callable[[], CrawlProgress], *, live: bool, interval_s: float
) -> AsyncIterator[ProgressDisplay]:
    """Report `read()` while the block runs: live on stderr if `live` and it is a terminal
    (log lines then print above the display, whole), else as a log line every `interval_s`."""
    if is_live(live):
        # rich is imported only when there is a terminal to draw on: jobs start faster without it.
        from rich.console import Console  # noqa: PLC0415
        from rich.live import Live  # noqa: PLC0415

        rate = RecentRate()
        console = Console(stderr=True)
        # Live redirects sys.stderr while it runs; the log handler writes to sys.stderr as it
        # is at each line (crawler.logs), so every log line goes above the display.
        # Drawn from this thread only (no auto-refresh thread): a refresh racing a log line
        # from another thread can erase that line when the display changes height.
        live_display = Live(
            _render(read(), rate), console=console, transient=True, auto_refresh=False
        )
        with live_display as display:
            task = asyncio.create_task(_refresh(display, read, rate))
            try:
                yield ProgressDisplay(live=True)
            finally:
                task.cancel()
    else:
        task = asyncio.create_task(_log_periodically(read, interval_s))
        try:
            yield ProgressDisplay(live=False)
        finally:
            task.cancel()


def _render(progress: CrawlProgress, rate: RecentRate) -> Text:
    from rich.text import Text  # noqa: PLC0415

    return Text("\n".join(status_lines(progress, rate(progress))), no_wrap=True)


async def _refresh(display: Live, read: Callable[[], CrawlProgress], rate: RecentRate) -> None:
    while True:
        await asyncio.sleep(LIVE_REFRESH_S)
        display.update(_render(read(), rate), refresh=True)


async def _log_periodically(read: Callable[[], CrawlProgress], interval_s: float) -> None:
    rate = RecentRate(window_s=max(interval_s, RATE_WINDOW_S))
    while True:
        await asyncio.sleep(interval_s)
        progress = read()
        log.info("progress: %s", describe(progress, rate(progress)), extra=log_fields(progress))
