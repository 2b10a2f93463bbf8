"""The frontier on the event loop the CLI uses (uvloop), with real SQLite storage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from crawler.config import Limits
from crawler.frontier import Frontier
from crawler.models import CrawlRequest
from crawler.store import open_storage


def test_host_delays_under_a_millisecond_on_uvloop(tmp_path: Path) -> None:
    """uvloop runs a timer due in under 0.5 ms as a plain callback, which has no `when()`: two
    hosts lined up in one turn of the loop once stopped the crawl with an AttributeError."""
    requests = [
        CrawlRequest(f"http://h{host}.test/{n}", f"h{host}.test", 0)
        for host in range(4)
        for n in range(30)
    ]

    async def crawl() -> list[str]:
        storage = await open_storage(tmp_path / "f.db")
        try:
            await storage.add_requests(requests)
            frontier = Frontier(
                storage,
                Limits(concurrency=8, per_host=2),
                delay_of=lambda _: 0.0002,
                queued=len(requests),
            )
            handed_out: list[str] = []

            async def worker() -> None:
                while (request := await frontier.next()) is not None:
                    handed_out.append(request.url)
                    await asyncio.sleep(0)
                    frontier.finish(request)
                    frontier.settle(1, discovered=0)

            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(8))), 20)
            return handed_out
        finally:
            await storage.close()

    handed_out = uvloop.run(crawl())

    assert sorted(handed_out) == sorted(request.url for request in requests)
