"""robots.txt against real servers: RFC 9309 rules, our group, Crawl-delay, one fetch each."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from aiohttp import web

from crawler.models import DocumentResponse
from crawler.parse import product_token
from crawler.robots import UNREACHABLE_RETRY_S, RobotsCache
from tests.conftest import Handler, SiteFactory
from tests.test_engine import crawl

ROBOTS = """
User-agent: *
Disallow: /p/1

User-agent: crawler
Disallow: /p/2
"""


def robots_route(text: str, status: int = 200) -> dict[str, Handler]:
    async def robots(_: web.Request) -> web.Response:
        return web.Response(text=text, status=status)

    return {"/robots.txt": robots}


async def test_our_group_decides_and_disallowed_urls_are_recorded_not_requested(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(6, routes=robots_route(ROBOTS), delay_s=0.01)

    _, records = await crawl(tmp_path, [site.url("/")], concurrency=8, per_host=4)

    by_url = {record.url: record for record in records}
    assert (by_url[site.url("/p/2")].status, by_url[site.url("/p/2")].error) == (None, "robots")
    assert by_url[site.url("/p/1")].error is None  # only the "*" group forbids it
    assert "/p/2" not in site.hits
    assert "/p/5" not in site.hits  # reachable only through /p/2
    assert site.robots_hits == 1


@pytest.mark.parametrize(
    ("status", "fetched"), [(404, True), (403, True), (500, False), (503, False)]
)
async def test_robots_status_rules_of_rfc_9309(
    tmp_path: Path, serve_site: SiteFactory, status: int, fetched: bool
) -> None:
    site = await serve_site(3, routes=robots_route("User-agent: *\nAllow: /\n", status=status))

    _, records = await crawl(tmp_path, [site.url("/")])

    if fetched:
        assert {r.error for r in records} == {None}
        assert len(records) == 4
    else:
        assert [(r.url, r.status, r.error) for r in records] == [(site.url("/"), None, "robots")]
        assert not site.hits


async def test_unreachable_robots_records_the_connection_error(tmp_path: Path) -> None:
    _, records = await crawl(tmp_path, ["http://127.0.0.1:1/page"], retries=0)

    assert [(r.status, r.error) for r in records] == [(None, "connection")]


async def test_crawl_delay_spaces_requests(tmp_path: Path, serve_site: SiteFactory) -> None:
    starts: list[float] = []

    async def timed(_: web.Request) -> web.Response:
        starts.append(asyncio.get_running_loop().time())
        links = '<a href="/t?1">a</a><a href="/t?2">b</a><a href="/t?3">c</a>'
        return web.Response(text=links, content_type="text/html")

    routes = {**robots_route("User-agent: *\nCrawl-delay: 0.3\n"), "/t": timed}
    site = await serve_site(0, routes=routes)

    await crawl(tmp_path, [site.url("/t")], per_host=4)

    assert len(starts) == 4
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.29


async def test_ignore_robots_neither_fetches_nor_obeys_it(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3, routes=robots_route("User-agent: *\nDisallow: /\n"))

    _, records = await crawl(tmp_path, [site.url("/")], ignore_robots=True)

    assert len(records) == 4
    assert site.robots_hits == 0


async def test_a_redirected_robots_txt_is_followed(tmp_path: Path, serve_site: SiteFactory) -> None:
    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/real-robots.txt")

    async def real(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /p/0\n")

    site = await serve_site(3, routes={"/robots.txt": moved, "/real-robots.txt": real})

    _, records = await crawl(tmp_path, [site.url("/")])

    assert {r.url: r.error for r in records} == {site.url("/"): None, site.url("/p/0"): "robots"}


def test_product_token_is_the_name_before_the_version() -> None:
    assert product_token("crawler/0.1.0 (async web crawler; aiohttp)") == "crawler"
    assert product_token("MyBot") == "MyBot"


async def test_an_unavailable_robots_txt_is_asked_again_after_a_minute() -> None:
    answers = [DocumentResponse(503), DocumentResponse(200, b"User-agent: *\nDisallow: /x\n")]
    asked: list[str] = []
    now = [1000.0]

    async def fetch(url: str) -> DocumentResponse:
        asked.append(url)
        return answers[min(len(asked) - 1, 1)]

    cache = RobotsCache(fetch, user_agent="crawler/1", clock=lambda: now[0])

    first = await cache.check("http://h.test/a", "http://h.test")
    now[0] += UNREACHABLE_RETRY_S - 1
    still = await cache.check("http://h.test/a", "http://h.test")
    now[0] += 2
    later = await cache.check("http://h.test/a", "http://h.test")

    assert (first.allowed, still.allowed, later.allowed) == (False, False, True)
    assert asked == ["http://h.test/robots.txt"] * 2


async def test_only_the_first_500_kib_of_robots_txt_count(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    padding = "# " + "x" * 1000 + "\n"
    text = "User-agent: *\nDisallow: /p/0\n" + padding * 520 + "Disallow: /p/1\n"
    site = await serve_site(2, routes=robots_route(text))

    _, records = await crawl(tmp_path, [site.url("/p/0"), site.url("/p/1")], max_depth=0)

    errors = {r.url.removeprefix(site.origin): r.error for r in records}
    assert errors["/p/0"] == "robots"
    assert errors["/p/1"] is None  # its rule lies beyond 500 KiB


@pytest.mark.parametrize(("hops", "obeyed"), [(5, True), (6, False)])
async def test_robots_txt_is_followed_through_five_redirects_and_no_more(
    tmp_path: Path, serve_site: SiteFactory, hops: int, obeyed: bool
) -> None:
    async def hop(request: web.Request) -> web.Response:
        left = int(request.match_info.get("left", hops))
        if left == 0:
            return web.Response(text="User-agent: *\nDisallow: /p/0\n")
        raise web.HTTPFound(f"/hop/{left - 1}")

    site = await serve_site(1, routes={"/robots.txt": hop, r"/hop/{left}": hop})

    _, records = await crawl(tmp_path, [site.url("/p/0")], max_depth=0)

    assert [r.error for r in records] == (["robots"] if obeyed else [None])
