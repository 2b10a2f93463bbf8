"""Several crawler processes on this machine sharing one crawl (`--processes N`): starts them,
forwards signals to them, shows one progress display and gives one exit code.

Each process is the ordinary command-line crawl on the shared PostgreSQL database (host leases
keep them apart); the supervisor fetches nothing and reads the database only for progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from crawler.config import Config
from crawler.engine import signals_handled
from crawler.errors import ConfigError, StorageError
from crawler.exit_codes import combined_exit_code
from crawler.progress import CrawlProgress, is_live, report_end, show_progress
from crawler.recrawl import queue_recrawl
from crawler.store import Storage, open_storage
from crawler.urls import mask_credentials

log = logging.getLogger("crawler")

LIVE_POLL_S = 2.0


def worker_arguments(
    arguments: Sequence[str], seeds: str, metrics_port: int | None = None
) -> list[str]:
    """One worker's command line: the user's (standard input's seeds replaced by the file that
    holds them), one process and no live display of its own (the last flag wins), and its
    own metrics port when metrics are on."""
    given = list(arguments)
    if seeds != "-" and "-" in given:
        given[given.index("-")] = seeds
    if given and given[0] == "crawl":  # named: the seeds file may be named like a command
        given = given[1:]
    own_port = [] if metrics_port is None else ["--metrics-port", str(metrics_port)]
    return ["crawl", *given, "--processes", "1", "--no-progress", *own_port]


async def run_fleet(config: Config, arguments: Sequence[str], seeds: str) -> int:
    """Run `config.processes` workers until they all end; returns the fleet's exit code."""
    # Opened first: a database that cannot be used stops the fleet before any process starts,
    # and the tables exist before the processes race to make them.
    storage = await open_storage(config.db, config=config)
    progress = CrawlProgress()  # no percentage: max_pages holds per process
    try:
        await queue_recrawl(storage, config)  # once, before the processes: they find it done
        progress.done_before = (await storage.totals()).done
        with _seeds_file(seeds) as seeds_path:
            port = config.metrics_port
            commands = [
                [
                    sys.executable, "-m", "crawler",
                    *worker_arguments(arguments, seeds_path, None if port is None else port + k),
                ]
                for k in range(config.processes)
            ]  # fmt: skip
            codes, received = await _supervise(commands, config, storage, progress)
    finally:
        await storage.close()
    live = is_live(config.progress)
    db = mask_credentials(str(config.db))
    report_end(progress, "ended", db, live=live, exit_codes=codes)
    return combined_exit_code(codes, received)


async def _supervise(
    commands: list[list[str]], config: Config, storage: Storage, progress: CrawlProgress
) -> tuple[list[int], int | None]:
    """Start the workers and wait for them, passing signals on; their exit codes, and the
    first signal the supervisor received."""
    workers: list[asyncio.subprocess.Process] = []
    received: list[int] = []

    def forward(number: int) -> None:
        received.append(number)
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(number)

    with signals_handled(True, forward):
        try:
            for command in commands:
                if received:  # stopped while starting: start no more
                    break
                # A session of their own: a terminal's Ctrl-C reaches the supervisor, which
                # passes it on once (a second signal would cut the workers' grace short).
                workers.append(
                    await asyncio.create_subprocess_exec(*command, start_new_session=True)
                )
        except OSError as exc:
            forward(signal.SIGTERM)
            await asyncio.gather(*(worker.wait() for worker in workers))
            raise ConfigError(f"cannot start a crawler process: {exc}") from None
        log.info("%d crawler processes started", len(workers), extra={"processes": len(workers)})
        watcher = asyncio.create_task(_watch(storage, progress, config))
        async with show_progress(
            lambda: progress, live=config.progress, interval_s=config.progress_interval
        ):
            codes = [await worker.wait() for worker in workers]
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    with contextlib.suppress(StorageError):  # the workers' exit codes tell how it went
        await _update(storage, progress)
    return codes, received[0] if received else None


async def _watch(storage: Storage, progress: CrawlProgress, config: Config) -> None:
    """The progress counters, from the shared database: every LIVE_POLL_S seconds for a live
    display, else as often as the progress lines (counting a large crawl costs the server)."""
    every = LIVE_POLL_S if is_live(config.progress) else config.progress_interval
    while True:
        with contextlib.suppress(StorageError):
            await _update(storage, progress)
        await asyncio.sleep(every)


async def _update(storage: Storage, progress: CrawlProgress) -> None:
    totals = await storage.totals()
    progress.done = totals.done - progress.done_before
    progress.records = totals.recorded
    progress.queued = totals.queued


@contextlib.contextmanager
def _seeds_file(seeds: str) -> Iterator[str]:
    """`seeds` itself, or for `-` a file holding standard input (every worker reads it)."""
    if seeds != "-":
        yield seeds
        return
    directory = Path(tempfile.mkdtemp(prefix="crawler-seeds-"))
    try:
        copy = directory / "seeds.txt"
        with copy.open("w", encoding="utf-8") as handle:
            shutil.copyfileobj(sys.stdin, handle)
        yield str(copy)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
