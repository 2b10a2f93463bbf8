"""Crawler traps and nofollow: limits on discovered URLs, counted in stats; rel/meta/header."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from crawler.models import CrawlStats
from crawler.parse import extract_links, header_says_nofollow
from crawler.store.sqlite import SqliteStorage
from crawler.urls import QueryCounter, TrapLimits, trap_reason
from tests.conftest import SiteFactory, link_page
from tests.test_engine import crawl

LIMITS = TrapLimits(max_url_length=60, max_path_depth=4, max_segment_repeats=2)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h.test/a/b/c", None),
        ("http://h.test/" + "x" * 60, "url_too_long"),
        ("http://h.test/a/b/c/d/e", "path_too_deep"),
        ("http://h.test/a/b/a/a", "repeated_segment"),
        ("http://h.test/a/b/a?x=/a/a/a", None),
    ],
)
def test_trap_reasons(url: str, reason: str | None) -> None:
    assert trap_reason(url, LIMITS) == reason


async def test_a_calendar_trap_ends_at_the_limits_and_is_counted(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def calendar(request: web.Request) -> web.Response:
        # Every page links one level deeper, forever: /cal/next/next/next/...
        return web.Response(text='<a href="next/">later</a>', content_type="text/html")

    site = await serve_site(0, routes={r"/cal/{rest:.*}": calendar})

    _, records = await crawl(tmp_path, [site.url("/cal/")], max_segment_repeats=5)
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    stats = await storage.stats()
    await storage.close()

    assert len(records) == 6  # /cal/ and next/ repeated 1 to 5 times
    assert stats.limits_hit == {"repeated_segment": 1}


async def test_a_query_space_trap_ends_at_the_limit_and_is_counted(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def calendar(request: web.Request) -> web.Response:
        # One path, its query counting up forever: /cal?month=N links N+1 (and N-1)
        month = int(request.query.get("month", "0"))
        links = f'<a href="?month={month + 1}">next</a><a href="?month={month - 1}">prev</a>'
        return web.Response(text=links, content_type="text/html")

    site = await serve_site(0, routes={"/cal": calendar})

    _, records = await crawl(tmp_path, [site.url("/cal")], max_queries_per_path=40)
    stats = await read_stats(tmp_path)

    assert len(records) == 41  # /cal and 40 of its queries
    assert stats.limits_hit == {"queries_per_path": 2}  # the next and previous months past them
    assert len(site.hits) == 41


async def test_a_catalogue_paginated_below_the_limit_is_crawled_whole(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def listing(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        products = "".join(f'<a href="/product/{page * 10 + n}">p</a>' for n in range(10))
        pages = "".join(f'<a href="/list?page={n}">{n}</a>' for n in (1, page + 1) if n <= 400)
        sort = '<a href="/list?page=1&amp;sort=price">by price</a>'
        return web.Response(text=products + pages + sort, content_type="text/html")

    async def product(_: web.Request) -> web.Response:
        return web.Response(text="<p>a product</p>", content_type="text/html")

    site = await serve_site(0, routes={"/list": listing, r"/product/{n:\d+}": product})

    _, records = await crawl(tmp_path, [site.url("/list?page=1")], concurrency=16, per_host=16)
    stats = await read_stats(tmp_path)

    lists = [r for r in records if r.url.startswith(site.url("/list"))]
    assert len(lists) == 401  # pages 1 to 400 with the default limit (500), and one sort order
    assert len(records) == 401 + 4000
    assert "queries_per_path" not in stats.limits_hit


def test_the_query_counter_counts_each_path_on_its_own() -> None:
    counter = QueryCounter(2)

    admitted = [
        counter.admits(url)
        for url in (
            "http://a.test/s?q=1", "http://a.test/s?q=2", "http://a.test/s?q=3",
            "http://a.test/t?q=1", "http://b.test/s?q=1", "http://a.test/s", "http://a.test/s/",
        )
    ]  # fmt: skip

    assert admitted == [True, True, False, True, True, True, True]


async def read_stats(tmp_path: Path) -> CrawlStats:
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    try:
        return await storage.stats()
    finally:
        await storage.close()


async def test_links_beyond_the_per_page_limit_are_dropped_and_counted(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def many(_: web.Request) -> web.Response:
        links = "".join(f'<a href="/p/{n}">{n}</a>' for n in range(50))
        return web.Response(text=links, content_type="text/html")

    site = await serve_site(50, routes={"/many": many})

    _, records = await crawl(tmp_path, [site.url("/many")], max_links_per_page=10, max_depth=1)
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    stats = await storage.stats()
    await storage.close()

    assert len(records) == 11
    assert stats.limits_hit == {"links_per_page": 40}


def test_rel_nofollow_links_are_left_out() -> None:
    html = (
        b'<a href="/a">a</a><a rel="external NoFollow" href="/b">b</a><a rel="next" href="/c">c</a>'
    )

    obeyed = [t.url for t in extract_links(html, "http://h.test/")]
    ignored = [t.url for t in extract_links(html, "http://h.test/", obey_nofollow=False)]

    assert obeyed == ["http://h.test/a", "http://h.test/c"]
    assert ignored == ["http://h.test/a", "http://h.test/b", "http://h.test/c"]


@pytest.mark.parametrize("content", ["nofollow", "noindex, NOFOLLOW", "none"])
def test_robots_meta_nofollow_gives_no_links(content: str) -> None:
    html = f'<meta name="Robots" content="{content}"><a href="/a">a</a>'.encode()

    assert extract_links(html, "http://h.test/") == []


@pytest.mark.parametrize(
    ("header", "nofollow"),
    [
        ("nofollow", True),
        ("noindex, nofollow", True),
        ("none", True),
        ("noarchive", False),
        ("otherbot: nofollow", False),
        ("crawler: nofollow", True),
        ("otherbot: noindex, crawler: none", True),
        (None, False),
    ],
)
def test_x_robots_tag(header: str | None, nofollow: bool) -> None:
    assert header_says_nofollow(header, "crawler") is nofollow


async def test_x_robots_tag_nofollow_stops_link_following(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def tagged(_: web.Request) -> web.Response:
        headers = {"X-Robots-Tag": "nofollow"}
        return web.Response(text='<a href="/p/0">x</a>', content_type="text/html", headers=headers)

    site = await serve_site(3, routes={"/tagged": tagged})

    _, obeyed = await crawl(tmp_path / "a", [site.url("/tagged")])
    _, ignored = await crawl(tmp_path / "b", [site.url("/tagged")], ignore_robots_meta=True)

    assert [r.url for r in obeyed] == [site.url("/tagged")]
    assert len(ignored) == 5  # /tagged, /p/0 to /p/2, and / that every page links to


async def test_the_per_host_budget_caps_each_host_across_runs(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    big = await serve_site(60, host="127.0.0.2")
    small = await serve_site(3, host="127.0.0.3")
    seeds = [big.url("/"), small.url("/")]

    _, first = await crawl(tmp_path, seeds, max_pages_per_host=10)
    _, second = await crawl(tmp_path, seeds, max_pages_per_host=25)

    hosts = [record.url.split("/")[2] for record in first]
    assert hosts.count(f"127.0.0.2:{big.port}") == 10
    assert hosts.count(f"127.0.0.3:{small.port}") == 4
    assert len(second) == 25 + 4
    assert max(big.hits.values()) == 1
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    stats = await storage.stats()
    await storage.close()
    assert stats.limits_hit["max_pages_per_host"] == stats.queued > 0


async def test_long_and_deep_links_are_dropped_and_counted(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    long_link = "/" + "l" * 3000
    deep_link = "/" + "/".join(f"d{n}" for n in range(40))
    site = await serve_site(1, routes={"/hub": link_page(long_link, deep_link, "/p/0")})

    _, records = await crawl(tmp_path, [site.url("/hub")])
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    stats = await storage.stats()
    await storage.close()

    assert {r.url for r in records} == {site.url("/hub"), site.url("/p/0"), site.url("/")}
    assert stats.limits_hit == {"url_too_long": 1, "path_too_deep": 1}


async def test_robots_meta_and_rel_nofollow_on_a_served_site(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def meta_page(_: web.Request) -> web.Response:
        html = '<meta name="robots" content="nofollow"><a href="/p/0">x</a>'
        return web.Response(text=html, content_type="text/html")

    async def rel_page(_: web.Request) -> web.Response:
        html = '<a rel="nofollow" href="/p/0">x</a><a href="/p/1">y</a>'
        return web.Response(text=html, content_type="text/html")

    site = await serve_site(2, routes={"/meta": meta_page, "/rel": rel_page})

    _, from_meta = await crawl(tmp_path / "a", [site.url("/meta")], max_depth=1)
    _, from_rel = await crawl(tmp_path / "b", [site.url("/rel")], max_depth=1)

    assert [r.url for r in from_meta] == [site.url("/meta")]
    assert {r.url for r in from_rel} == {site.url("/rel"), site.url("/p/1")}
