"""The watchdog: a request stuck in its fetch or its handler is given up and recorded
`stalled`; a crawl that stores nothing for `stall_timeout` stops with exit code 3."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from crawler import Config, Crawler, Engine, Page
from crawler.exit_codes import exit_code_for
from crawler.models import Claim
from crawler.store.sqlite import SqliteStorage
from crawler.urls import parse_absolute
from tests.conftest import SiteFactory, link_page
from tests.store.delegating import DelegatingStorage


async def records_of(db: Path) -> dict[str, tuple[int | None, str | None]]:
    storage = await SqliteStorage.open(db, read_only=True)
    try:
        return {r.url: (r.status, r.error) async for r in storage.iter_records()}
    finally:
        await storage.close()


async def test_a_handler_that_never_returns_is_given_up_and_the_crawl_goes_on(
    tmp_path: Path, serve_site: SiteFactory, caplog: pytest.LogCaptureFixture
) -> None:
    site = await serve_site(6)
    crawler = Crawler(Config(db=tmp_path / "crawl.db", progress=False, stall_timeout=0.5))

    @crawler.route()
    async def parse(page: Page) -> list[object]:
        if page.url.endswith("/p/2"):
            await asyncio.Event().wait()  # a bug in the user's parser: it never returns
        return [page.follow(link) for link in page.links()]

    started = time.monotonic()
    summary = await crawler.crawl([site.url("/")])

    records = await records_of(tmp_path / "crawl.db")
    assert summary.reason == "finished"
    assert records[site.url("/p/2")] == (None, "stalled")
    assert len(records) == 6  # / and /p/0../p/4: /p/5 is linked from the stalled /p/2 only
    assert f"stalled: {site.url('/p/2')} busy for" in caplog.text
    assert time.monotonic() - started < 10


async def test_a_fetch_longer_than_stall_timeout_is_given_up(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def silent(_: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response(text="too late")

    site = await serve_site(0, routes={"/silent": silent, "/start": link_page("/silent")})
    config = Config(db=tmp_path / "crawl.db", progress=False, timeout=30, stall_timeout=0.5)

    summary = await asyncio.wait_for(Crawler(config).crawl([site.url("/start")]), 20)

    assert summary.reason == "finished"
    assert (await records_of(tmp_path / "crawl.db"))[site.url("/silent")] == (None, "stalled")


class StuckStore(DelegatingStorage):
    """A real SQLite store that stops answering `claim_next` after its first answer."""

    def __init__(self, inner: SqliteStorage) -> None:
        super().__init__(inner)
        self._claims = 0

    async def claim_next(
        self, limit: int, room_for: Callable[[str], int], *, recorded_only: bool = False
    ) -> Claim:
        self._claims += 1
        if self._claims > 1:
            await asyncio.Event().wait()  # a deadlock, as far as the crawl can tell
        return await self.inner.claim_next(limit, room_for)


async def test_a_crawl_that_stores_nothing_for_stall_timeout_stops_as_stalled(
    tmp_path: Path, serve_site: SiteFactory, caplog: pytest.LogCaptureFixture
) -> None:
    site = await serve_site(50)
    inner = await SqliteStorage.open(tmp_path / "crawl.db")
    config = Config(db=tmp_path / "crawl.db", progress=False, stall_timeout=0.5, shutdown_grace=0.2)
    target = parse_absolute(site.url("/"))
    assert target is not None

    engine = Engine(config, StuckStore(inner))
    summary = await asyncio.wait_for(engine.run([target]), 20)
    queued = (await inner.totals()).queued
    await inner.close()

    assert summary.reason == "stalled"
    assert exit_code_for(summary) == 3
    assert "stalled: nothing stored for" in caplog.text
    assert queued > 0  # what was left is still queued for the next run
