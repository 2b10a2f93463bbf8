"""Retries: which failures, how long to wait (Retry-After, backoff), and a count that survives."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from crawler.config import Config, RetryPolicy
from crawler.engine import Engine
from crawler.models import CrawlRequest, FetchResult
from crawler.retry import can_retry, parse_retry_after, retry_delay
from crawler.store import open_storage
from crawler.urls import parse_absolute
from tests.conftest import Handler, SiteFactory, wait_until
from tests.test_engine import crawl

POLICY = RetryPolicy(retries=3, retry_max_wait=60)


def result(status: int | None, error: str | None, retries: int = 0) -> FetchResult:
    request = CrawlRequest("http://h.test/", "h.test", 0, retries=retries)
    return FetchResult(request, request.url, status, None, b"", error, "", 0)


@pytest.mark.parametrize(
    ("status", "error", "retries", "expected"),
    [
        (503, "http", 0, True),
        (429, "http", 2, True),
        (408, "http", 0, True),
        (404, "http", 0, False),
        (403, "http", 0, False),
        (None, "timeout", 0, True),
        (None, "connection", 0, True),
        (None, "dns", 0, True),
        (None, "proxy", 0, True),
        (None, "tls", 0, False),
        (None, "robots", 0, False),
        (503, "http", 3, False),
        (200, None, 0, False),
    ],
)
def test_which_failures_are_tried_again(
    status: int | None, error: str | None, retries: int, expected: bool
) -> None:
    assert can_retry(POLICY, result(status, error, retries)) is expected


def test_backoff_is_full_jitter_under_a_cap() -> None:
    rng = random.Random(7)
    delays = [retry_delay(POLICY, attempt, None, rng) for attempt in range(12) for _ in range(20)]

    assert all(0 <= delay <= 60 for delay in delays)
    assert max(delays[:20]) <= 0.5  # attempt 0: up to 0.5 s
    assert max(delays[-20:]) > 30  # attempt 11 reaches towards the cap
    assert retry_delay(POLICY, 0, 500.0, rng) == 60  # Retry-After is capped too


def test_retry_after_in_both_forms() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def failing(times: int, status: int = 503, headers: dict[str, str] | None = None) -> Handler:
    seen: list[float] = []

    async def handler(_: web.Request) -> web.Response:
        seen.append(asyncio.get_running_loop().time())
        if len(seen) <= times:
            return web.Response(status=status, headers=headers)
        return web.Response(text="finally", content_type="text/html")

    handler.seen = seen  # type: ignore[attr-defined]  # the test reads the request times
    return handler


async def test_a_flaky_page_is_recorded_once_it_succeeds(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(0, routes={"/flaky": failing(2)})

    _, records = await crawl(tmp_path, [site.url("/flaky")], adaptive_throttle=False)

    assert [(r.status, r.error, r.retries) for r in records] == [(200, None, 2)]
    assert site.hits["/flaky"] == 3


async def test_the_last_failure_is_recorded_with_its_retries(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(0, routes={"/down": failing(99, status=500), "/gone": failing(99, 404)})

    _, records = await crawl(
        tmp_path, [site.url("/down"), site.url("/gone")], retries=2, adaptive_throttle=False
    )

    by_path = {r.url.removeprefix(site.origin): (r.status, r.error, r.retries) for r in records}
    assert by_path == {"/down": (500, "http", 2), "/gone": (404, "http", 0)}
    assert site.hits == {"/down": 3, "/gone": 1}


@pytest.mark.parametrize("form", ["seconds", "date"])
async def test_retry_after_is_waited_for(
    tmp_path: Path, serve_site: SiteFactory, form: str
) -> None:
    value = (
        "1"
        if form == "seconds"
        else format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    )
    flaky = failing(1, headers={"Retry-After": value})
    site = await serve_site(0, routes={"/busy": flaky})

    _, records = await crawl(tmp_path, [site.url("/busy")], adaptive_throttle=False)

    first, second = flaky.seen  # type: ignore[attr-defined]
    assert [(r.status, r.retries) for r in records] == [(200, 1)]
    # An HTTP-date has whole seconds: 3 s ahead, cut to the second, is more than 1 s ahead
    # by the time the first answer comes.
    assert second - first >= 0.95


async def test_a_retry_after_beyond_the_longest_wait_is_recorded_at_once_and_said_once(
    tmp_path: Path, serve_site: SiteFactory, caplog: pytest.LogCaptureFixture
) -> None:
    routes = {f"/busy{n}": failing(99, headers={"Retry-After": "3600"}) for n in range(2)}
    routes["/soon"] = failing(1, headers={"Retry-After": "1"})
    site = await serve_site(0, routes=routes)
    started = time.monotonic()

    with caplog.at_level(logging.INFO, logger="crawler"):
        _, records = await crawl(
            tmp_path, [site.url(path) for path in routes], adaptive_throttle=False
        )

    by_path = {r.url.removeprefix(site.origin): (r.status, r.error, r.retries) for r in records}
    assert by_path == {
        "/busy0": (503, "http", 0),
        "/busy1": (503, "http", 0),
        "/soon": (200, None, 1),
    }
    assert site.hits == {"/busy0": 1, "/busy1": 1, "/soon": 2}
    assert time.monotonic() - started < 10  # not an hour, nor retry_max_wait three times over
    said = [r.getMessage() for r in caplog.records if "beyond retry_max_wait" in r.getMessage()]
    assert len(said) == 1
    assert "asks to retry in 3600 s, beyond retry_max_wait (60 s)" in said[0]


@pytest.mark.parametrize("limit", ["max_pages", "max_pages_per_host"])
async def test_a_retry_does_not_use_up_the_page_limits(
    tmp_path: Path, serve_site: SiteFactory, limit: str
) -> None:
    site = await serve_site(10, routes={"/busy": failing(1, headers={"Retry-After": "1"})})
    everything = len(site.expected_urls()) + 1

    _, records = await crawl(
        tmp_path,
        [site.url("/busy"), site.url("/")],
        adaptive_throttle=False,
        **{limit: everything},
    )

    assert len(records) == everything  # the retried page was claimed twice, recorded once
    assert site.hits["/busy"] == 2


async def test_the_retry_count_survives_a_restart(tmp_path: Path, serve_site: SiteFactory) -> None:
    down = failing(99, status=503, headers={"Retry-After": "1"})
    site = await serve_site(0, routes={"/down": down})
    config = Config(db=tmp_path / "crawl.db", progress=False, retries=1, adaptive_throttle=False)
    target = parse_absolute(site.url("/down"))
    assert target is not None

    storage = await open_storage(config.db)
    engine = Engine(config, storage)
    first_run = asyncio.create_task(engine.run([target]))
    await wait_until(lambda: site.hits["/down"] == 1)
    await asyncio.sleep(0.1)
    engine.stop()
    await first_run
    recorded_after_stop = [r async for r in storage.iter_records()]
    await storage.close()
    _, records = await crawl(tmp_path, [site.url("/down")], retries=1, adaptive_throttle=False)

    assert recorded_after_stop == []
    assert [(r.status, r.retries) for r in records] == [(503, 1)]
    assert site.hits["/down"] == 2
