"""Many crawler processes on one PostgreSQL server, simulated: the real storage (host leases,
claims, batched writes), a fake fetch that only waits.

    python bench/fleet_sim.py [--workers 8,16,32] [--hosts 2000] [--seconds 20]

Each simulated worker is one `PostgresStorage` (its own connections, worker id and leases)
that claims up to `--window` requests, "fetches" them all at once (each waits `--latency`
seconds), and records them in one batch, every page discovering `--links` new URLs of its
host, so the frontier keeps growing as in a real crawl. Reported per fleet size: claims and
records per second, the claim latency (median and 99th percentile), and rows in the table.
The PostgreSQL server is a throwaway one with its durable defaults (started as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.models import CrawlRequest, Outcome, PageRecord  # noqa: E402
from crawler.store.postgres import PostgresStorage  # noqa: E402
from tests.postgres_server import started_server  # noqa: E402


@dataclass
class Tally:
    claims: int = 0
    records: int = 0
    claim_s: list[float] = field(default_factory=list)


def record_of(request: CrawlRequest) -> PageRecord:
    return PageRecord(
        request.url, request.url, 200, request.depth, request.parent, "text/html", 1000,
        "ab" * 32, None, 0, "2026-11-30T00:00:00.000Z", 50,
    )  # fmt: skip


async def worker(dsn: str, args: argparse.Namespace, stop: asyncio.Event, tally: Tally) -> None:
    storage = await PostgresStorage.open(dsn, max_hosts=args.window // args.per_host)
    counter = itertools.count()
    try:
        while not stop.is_set():
            started = time.perf_counter()
            claim = await storage.claim_next(args.window, lambda _host: args.per_host * 4)
            tally.claim_s.append(time.perf_counter() - started)
            tally.claims += 1
            if not claim.requests:
                await asyncio.sleep(0.05)
                continue
            await asyncio.sleep(args.latency)  # every claimed request "fetched" at once
            outcomes = [
                Outcome(
                    request,
                    record_of(request),
                    tuple(
                        CrawlRequest(f"{request.url}/{next(counter)}", request.host, 1, request.url)
                        for _ in range(args.links)
                    ),
                )
                for request in claim.requests
            ]
            await storage.mark_done(outcomes)
            tally.records += len(outcomes)
    finally:
        await storage.close()


async def simulate(dsn: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    seeder = await PostgresStorage.open(dsn)
    await seeder.add_requests(
        [CrawlRequest(f"http://h{n}.test/", f"h{n}.test", 0) for n in range(args.hosts)]
    )
    await seeder.close()
    stop = asyncio.Event()
    tallies = [Tally() for _ in range(workers)]
    tasks = [asyncio.create_task(worker(dsn, args, stop, tally)) for tally in tallies]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.gather(*tasks)
    latencies = sorted(s for tally in tallies for s in tally.claim_s)
    rows = await _row_count(dsn)
    return {
        "workers": workers,
        "claims_per_s": round(sum(t.claims for t in tallies) / args.seconds, 1),
        "records_per_s": round(sum(t.records for t in tallies) / args.seconds, 1),
        "claim_ms_median": round(1000 * statistics.median(latencies), 1),
        "claim_ms_p99": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
        "rows": rows,
    }


async def _row_count(dsn: str) -> int:
    storage = await PostgresStorage.open(dsn, read_only=True)
    try:
        totals = await storage.totals()
        return totals.done + totals.queued
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="8,16,32")
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--links", type=int, default=5)
    args = parser.parse_args()
    print("| simulated processes | claims/s | records/s | claim ms (median) | claim ms (p99) |"
          " rows at the end |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    with started_server(durable=True) as server:
        for workers in (int(n) for n in args.workers.split(",")):
            dsn = server.create_database()
            found = asyncio.run(simulate(dsn, workers, args))
            server.drop_database(dsn)
            print(
                f"| {found['workers']} | {found['claims_per_s']} | {found['records_per_s']} |"
                f" {found['claim_ms_median']} | {found['claim_ms_p99']} | {found['rows']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
