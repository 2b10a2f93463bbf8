"""The engine in-process against real loopback servers: coverage, dedup, scope, limits."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiohttp import web

from crawler.config import Config, __version__
from crawler.engine import Engine
from crawler.errors import StorageError
from crawler.models import CrawlSummary, FetchResult, Outcome, PageOutput, PageRecord
from crawler.processor import follow_html_links
from crawler.store import open_storage
from crawler.store.sqlite import SqliteStorage
from crawler.urls import ScopePolicy, parse_absolute
from tests.conftest import InFlight, SiteFactory
from tests.store.delegating import DelegatingStorage


async def crawl(
    tmp_path: Path, seeds: list[str], **settings: object
) -> tuple[CrawlSummary, list[PageRecord]]:
    config = Config(db=tmp_path / "crawl.db", progress=False, **settings)  # type: ignore[arg-type]
    targets = [target for target in map(parse_absolute, seeds) if target is not None]
    storage = await open_storage(config.db)
    try:
        summary = await Engine(config, storage).run(targets)
        records = [record async for record in storage.iter_records()]
    finally:
        await storage.close()
    return summary, records


async def test_crawl_records_every_page_of_a_site_exactly_once(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(300)

    summary, records = await crawl(tmp_path, [site.url("/")])

    urls = [record.url for record in records]
    assert sorted(urls) == sorted(site.expected_urls())
    assert summary.reason == "finished"
    assert summary.pages == 301
    assert all(record.status == 200 and record.error is None for record in records)


async def test_each_page_is_requested_once_despite_many_spellings(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(120)

    await crawl(tmp_path, [site.url("/")])

    assert set(site.hits) == {"/"} | {f"/p/{n}" for n in range(120)}
    assert max(site.hits.values()) == 1


async def test_records_carry_depth_parent_size_and_hash(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(10)

    _, records = await crawl(tmp_path, [site.url("/")])

    by_url = {record.url: record for record in records}
    root, first, second = by_url[site.url("/")], by_url[site.url("/p/0")], by_url[site.url("/p/1")]
    assert (root.depth, root.parent) == (0, None)
    assert (first.depth, first.parent) == (1, site.url("/"))
    assert (second.depth, second.parent) == (2, site.url("/p/0"))
    assert first.size == len(site.page(0).encode())
    assert first.sha256 is not None
    assert len(first.sha256) == 64
    assert first.content_type == "text/html"
    assert first.fetched_at is not None
    assert first.fetched_at.endswith("Z")


async def test_max_depth_stops_following_links(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(100)

    _, records = await crawl(tmp_path, [site.url("/")], max_depth=2)

    assert {record.url for record in records} == {
        site.url("/"),
        site.url("/p/0"),
        site.url("/p/1"),
        site.url("/p/2"),
        site.url("/p/3"),
    }
    assert max(record.depth for record in records) == 2


async def test_max_pages_records_exactly_that_many(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(200)

    summary, records = await crawl(tmp_path, [site.url("/")], max_pages=25)

    assert len(records) == 25
    assert summary.reason == "finished"
    assert sum(site.hits.values()) == 25


async def test_scope_host_keeps_other_hosts_out(tmp_path: Path, serve_site: SiteFactory) -> None:
    other = await serve_site(5, host="127.0.0.3")

    async def outward(_: web.Request) -> web.Response:
        return web.Response(
            text=f'<a href="{other.url("/")}">away</a><a href="/p/0">home</a>',
            content_type="text/html",
        )

    site = await serve_site(3, host="127.0.0.2", routes={"/out": outward})

    _, records = await crawl(tmp_path, [site.url("/out")])

    assert {record.url for record in records} == {site.url("/out")} | site.expected_urls()
    assert not other.hits


async def test_scope_any_follows_links_to_other_hosts(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    other = await serve_site(3, host="127.0.0.3")

    async def outward(_: web.Request) -> web.Response:
        return web.Response(text=f'<a href="{other.url("/")}">away</a>', content_type="text/html")

    site = await serve_site(0, host="127.0.0.2", routes={"/out": outward})

    _, records = await crawl(tmp_path, [site.url("/out")], scope="any", allow_private_networks=True)

    assert {record.url for record in records} == {site.url("/out")} | other.expected_urls()


async def test_allow_and_deny_filter_discovered_urls(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(50)

    _, records = await crawl(
        tmp_path, [site.url("/")], allow=[r"/p/\d+$"], deny=[r"/p/\d*[13579]$"]
    )

    numbers = {int(r.url.rsplit("/", 1)[1]) for r in records if "/p/" in r.url}
    assert numbers  # the even pages reachable through even pages
    assert all(n % 2 == 0 for n in numbers)
    assert {r.url for r in records if "/p/" not in r.url} == {site.url("/")}


async def test_global_concurrency_is_never_exceeded(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    together = InFlight()
    sites = [
        await serve_site(40, host=f"127.0.0.{n}", delay_s=0.02, shared_in_flight=together)
        for n in (2, 3, 4)
    ]

    await crawl(tmp_path, [site.url("/") for site in sites], concurrency=5, per_host=4)

    assert all(len(site.hits) == 41 for site in sites)
    assert together.most == 5
    assert max(site.in_flight.most for site in sites) <= 4


async def test_per_host_limit_is_never_exceeded(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(60, delay_s=0.02)

    await crawl(tmp_path, [site.url("/")], concurrency=32, per_host=3)

    assert len(site.hits) == 61
    assert site.in_flight.most == 3


async def test_delay_spaces_requests_to_one_host(tmp_path: Path, serve_site: SiteFactory) -> None:
    starts: list[float] = []

    async def timed(_: web.Request) -> web.Response:
        starts.append(asyncio.get_running_loop().time())
        return web.Response(
            text='<a href="/t?1">a</a><a href="/t?2">b</a><a href="/t?3">c</a>',
            content_type="text/html",
        )

    site = await serve_site(0, routes={"/t": timed})

    await crawl(tmp_path, [site.url("/t")], delay=0.2, per_host=4)

    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) == 4
    assert min(gaps) >= 0.19


async def test_hosts_take_turns_so_a_big_host_does_not_starve_a_small_one(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    big = await serve_site(400, host="127.0.0.2", delay_s=0.005)
    small = await serve_site(6, host="127.0.0.3", delay_s=0.005)

    _, records = await crawl(tmp_path, [big.url("/"), small.url("/")], concurrency=4, per_host=2)

    order = [record.url for record in sorted(records, key=lambda r: r.fetched_at or "")]
    small_positions = [i for i, url in enumerate(order) if url.startswith(small.origin)]
    assert len(small_positions) == 7
    assert max(small_positions) < len(order) // 4


async def test_non_html_is_recorded_but_not_parsed(tmp_path: Path, serve_site: SiteFactory) -> None:
    async def text(_: web.Request) -> web.Response:
        # Plain text that does not start like HTML (what does is sniffed: test_old_fashioned)
        return web.Response(text='Write <a href="/p/0">links</a> like this.')

    site = await serve_site(3, routes={"/plain.txt": text})

    _, records = await crawl(tmp_path, [site.url("/plain.txt")])

    assert [(r.url, r.content_type, r.status) for r in records] == [
        (site.url("/plain.txt"), "text/plain", 200)
    ]


async def test_error_kinds_for_404_too_large_timeout_and_refused_port(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="text/html")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def hub(_: web.Request) -> web.Response:
        links = "".join(f'<a href="{path}">x</a>' for path in ("/missing", "/big", "/slow"))
        return web.Response(text=links, content_type="text/html")

    site = await serve_site(0, routes={"/big": big, "/slow": slow, "/hub": hub})
    refused = "http://127.0.0.5:1/"

    _, records = await crawl(
        tmp_path, [site.url("/hub"), refused], scope="any", max_size=1000, timeout=0.5, retries=0
    )

    outcomes = {
        record.url.removeprefix(site.origin): (record.status, record.error) for record in records
    }
    assert outcomes == {
        "/hub": (200, None),
        "/missing": (404, "http"),
        "/big": (200, "too_large"),
        "/slow": (None, "timeout"),
        refused: (None, "connection"),
    }


async def test_a_failing_page_step_is_recorded_as_handler_and_the_crawl_goes_on(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(20)

    async def fragile(result: FetchResult, scope: ScopePolicy) -> PageOutput:
        if result.request.url.endswith("/p/0"):
            raise ValueError("cannot read this page")
        return await follow_html_links(result, scope)

    config = Config(db=tmp_path / "crawl.db", progress=False)
    storage = await open_storage(config.db)
    targets = [t for t in [parse_absolute(site.url("/")), parse_absolute(site.url("/p/1"))] if t]
    summary = await Engine(config, storage, processor=fragile).run(targets)
    records = {record.url: record async for record in storage.iter_records()}
    await storage.close()

    assert records[site.url("/p/0")].error == "handler"
    assert records[site.url("/p/0")].status == 200
    assert site.url("/p/3") in records  # found through /p/1
    assert summary.reason == "finished"


class FailingStore(DelegatingStorage):
    """A real SQLite store whose writes start failing, as on a full disk."""

    def __init__(self, inner: SqliteStorage, fail_after: int) -> None:
        super().__init__(inner)
        self._writes_left = fail_after

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        self._writes_left -= 1
        if self._writes_left < 0:
            raise StorageError("cannot write database: disk I/O error")
        return await self.inner.mark_done(outcomes)


async def test_a_store_that_stops_working_ends_the_crawl_with_its_error(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(300, delay_s=0.002)
    inner = await SqliteStorage.open(tmp_path / "crawl.db")
    config = Config(db=tmp_path / "crawl.db", progress=False, concurrency=8)
    target = parse_absolute(site.url("/"))
    assert target is not None

    with pytest.raises(StorageError, match="disk I/O error"):
        await asyncio.wait_for(
            Engine(config, FailingStore(inner, fail_after=3)).run([target]),
            timeout=20,
        )
    await inner.close()


async def test_the_size_cap_counts_decompressed_bytes(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    bomb = gzip.compress(b"<p>" + b"a" * 200_000)

    async def compressed(_: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/html"}
        return web.Response(body=bomb, headers=headers)

    site = await serve_site(0, routes={"/bomb": compressed})

    _, records = await crawl(tmp_path, [site.url("/bomb")], max_size=100_000)

    assert len(bomb) < 100_000
    assert [(r.status, r.error, r.size, r.sha256) for r in records] == [(200, "too_large", 0, None)]


async def test_a_latin1_page_leads_to_its_non_ascii_link(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def latin(_: web.Request) -> web.Response:
        body = '<a href="/café">café</a>'.encode("latin-1")
        return web.Response(body=body, headers={"Content-Type": "text/html; charset=iso-8859-1"})

    async def cafe(_: web.Request) -> web.Response:
        return web.Response(text="bienvenue", content_type="text/html")

    site = await serve_site(0, routes={"/latin": latin, "/café": cafe})

    _, records = await crawl(tmp_path, [site.url("/latin")])

    assert {(r.url, r.status) for r in records} == {
        (site.url("/latin"), 200),
        (site.url("/caf%C3%A9"), 200),
    }


async def test_requests_carry_the_descriptive_default_user_agent(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    agents: list[str] = []

    async def page(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent", ""))
        return web.Response(text="hello", content_type="text/html")

    site = await serve_site(0, routes={"/ua": page})

    await crawl(tmp_path, [site.url("/ua")])

    assert agents == [f"crawler/{__version__} (async web crawler; aiohttp)"]


async def test_an_engine_run_with_signals_handled_stops_gracefully_on_sigterm(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(200, delay_s=0.01)
    config = Config(db=tmp_path / "crawl.db", progress=False, concurrency=4, shutdown_grace=5)
    target = parse_absolute(site.url("/"))
    assert target is not None
    storage = await open_storage(config.db)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, os.kill, os.getpid(), signal.SIGTERM)

    summary = await asyncio.wait_for(Engine(config, storage).run([target], handle_signals=True), 20)
    totals = await storage.totals()
    await storage.close()

    assert (summary.reason, summary.signal) == ("stopped", signal.SIGTERM)
    assert 0 < totals.done < 201
    assert totals.queued > 0  # what was not fetched is still queued for the next run
