"""Adaptive throttling: the rules, and their effect on a real server."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from aiohttp import web

from crawler.throttle import BACKOFF_MAX_S, GIVE_UP_AFTER, MAX_CRAWL_DELAY_S, Throttle
from tests.conftest import SiteFactory
from tests.test_engine import crawl


def test_trouble_doubles_the_delay_from_one_second_up_to_the_cap() -> None:
    throttle = Throttle(per_host=4, base_delay=0.0)

    delays = [
        throttle.observe("h", status=503, error="http", elapsed_s=0.01)
        for _ in range(GIVE_UP_AFTER - 1)
    ]

    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays[-1] == BACKOFF_MAX_S
    assert not throttle.is_given_up("h")


def test_good_answers_bring_the_delay_back_down_gradually() -> None:
    throttle = Throttle(per_host=4, base_delay=0.0)
    for _ in range(3):
        throttle.observe("h", status=None, error="connection", elapsed_s=1.0)

    recovering = [throttle.observe("h", status=200, error=None, elapsed_s=0.004) for _ in range(12)]

    assert recovering[0] == pytest.approx(2.0005)
    assert recovering == sorted(recovering, reverse=True)
    assert recovering[-1] == 0.0


def test_slow_hosts_get_a_delay_from_their_latency() -> None:
    throttle = Throttle(per_host=2, base_delay=0.0)
    throttle.observe("h", status=429, error="http", elapsed_s=0.1)

    delays = [throttle.observe("h", status=200, error=None, elapsed_s=1.0) for _ in range(10)]

    assert delays[-1] == pytest.approx(0.5, abs=0.01)  # one second of latency over 2 slots


def test_a_host_that_keeps_failing_is_given_up_even_without_adaptive_delays() -> None:
    throttle = Throttle(per_host=4, base_delay=0.5, adaptive=False)

    delays = [
        throttle.observe("h", status=500, error="http", elapsed_s=0.0) for _ in range(GIVE_UP_AFTER)
    ]

    assert set(delays) == {0.5}
    assert throttle.is_given_up("h")
    assert not throttle.is_given_up("other")


def test_good_answers_reset_the_failure_count() -> None:
    throttle = Throttle(per_host=4, base_delay=0.0)
    for _ in range(GIVE_UP_AFTER - 1):
        throttle.observe("h", status=503, error="http", elapsed_s=0.0)

    throttle.observe("h", status=200, error=None, elapsed_s=0.0)
    throttle.observe("h", status=503, error="http", elapsed_s=0.0)

    assert not throttle.is_given_up("h")


def test_a_hosts_delay_is_at_least_its_crawl_delay_and_none_once_given_up() -> None:
    throttle = Throttle(per_host=4, base_delay=0.5)

    throttle.set_crawl_delay("h", 2.0)
    throttle.set_crawl_delay("low", 0.1)
    throttle.set_crawl_delay("other", 3600.0)
    crawl_delayed = throttle.delay_of("h")
    for _ in range(GIVE_UP_AFTER):
        throttle.observe("h", status=503, error="http", elapsed_s=0.0)

    assert crawl_delayed == 2.0
    assert throttle.delay_of("low") == 0.5  # the configured delay is higher
    assert throttle.delay_of("other") == MAX_CRAWL_DELAY_S
    assert throttle.delay_of("unknown") == 0.5
    assert throttle.is_given_up("h")
    assert throttle.delay_of("h") == 0.0


def test_trouble_above_the_crawl_delay_slows_the_host_further() -> None:
    throttle = Throttle(per_host=4, base_delay=0.0)
    throttle.set_crawl_delay("h", 1.5)

    for _ in range(2):
        throttle.observe("h", status=429, error="http", elapsed_s=0.0)

    assert throttle.delay_of("h") == 2.0


async def test_a_503_makes_the_next_request_wait(tmp_path: Path, serve_site: SiteFactory) -> None:
    starts: list[float] = []

    async def page(request: web.Request) -> web.Response:
        starts.append(asyncio.get_running_loop().time())
        status = 503 if len(starts) == 1 else 200
        return web.Response(text="ok", status=status)

    site = await serve_site(0, routes={r"/q/{n}": page})
    seeds = [site.url(f"/q/{n}") for n in range(4)]

    _, records = await crawl(tmp_path, seeds, per_host=1, max_depth=0, retries=0)

    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert [record.status for record in records] == [503, 200, 200, 200]
    assert gaps[0] >= 0.95
    assert gaps[1] < gaps[0]


async def test_a_failing_host_is_given_up_and_its_urls_recorded_without_requests(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503)

    dead = await serve_site(0, host="127.0.0.3", routes={r"/d/{n}": broken})
    links = "".join(f'<a href="{dead.url(f"/d/{n}")}">x</a>' for n in range(40))

    async def hub(_: web.Request) -> web.Response:
        return web.Response(text=links, content_type="text/html")

    site = await serve_site(0, host="127.0.0.2", routes={"/hub": hub})

    _, records = await crawl(
        tmp_path,
        [site.url("/hub")],
        scope="any",
        allow_private_networks=True,
        per_host=10,
        retries=0,
    )

    errors = [record.error for record in records if record.url.startswith(dead.origin)]
    assert len(errors) == 40
    assert set(errors) == {"http", "host_failed"}
    assert sum(dead.hits.values()) == errors.count("http")
    assert errors.count("host_failed") >= 40 - 2 * GIVE_UP_AFTER
