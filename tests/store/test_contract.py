"""The storage contract: what every backend must do, run against each of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from crawler.errors import StorageError
from crawler.models import (
    BrokenLink,
    CrawlRequest,
    HttpCapture,
    ItemRecord,
    Outcome,
    PageRecord,
    ProxyFigures,
    RequestOptions,
    RunEnd,
    Totals,
)
from crawler.store import Storage
from tests.store.backends import (
    BACKENDS,
    OLD_BODY,
    OLD_ITEM,
    OLD_LIMITS_HIT,
    OLD_PROXY,
    OLD_PROXY_FIGURES,
    OLD_QUEUED,
    OLD_RECORD,
    WITH_EARLIER_VERSIONS,
    Backend,
    PostgresBackend,
    SqliteBackend,
)


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "postgres":
        return PostgresBackend(request.getfixturevalue("postgres_dsn"))
    return SqliteBackend(tmp_path)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=WITH_EARLIER_VERSIONS)
def backend_with_history(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A backend that has an earlier schema version to upgrade from."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    opened = await backend.open()
    yield opened
    await opened.close()


def queued(url: str, depth: int = 0, **options: object) -> CrawlRequest:
    host = url.split("/")[2]
    extra = RequestOptions(**options) if options else None  # type: ignore[arg-type]
    return CrawlRequest(url, host, depth, options=extra)


def record_of(request: CrawlRequest, status: int = 200) -> PageRecord:
    return PageRecord(
        request.url,
        request.url,
        status,
        request.depth,
        request.parent,
        "text/html",
        3,
        "ab" * 32,
        None if status < 400 else "http",
        request.retries,
        "2026-11-30T00:00:00.000Z",
        5,
    )


def room(limit: int) -> Callable[[str], int]:
    return lambda _host: limit


async def claim(storage: Storage, limit: int = 100, room_for: int = 100) -> list[str]:
    return [request.url for request in (await storage.claim_next(limit, room(room_for))).requests]


async def finish(storage: Storage, request: CrawlRequest, **outcome: object) -> int:
    return await storage.mark_done([Outcome(request, record_of(request), **outcome)])  # type: ignore[arg-type]


async def test_a_request_is_queued_once_per_url_and_variant(storage: Storage) -> None:
    first = await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])
    second = await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/3")])
    variants = await storage.add_requests(
        [queued("http://a.test/1", variant="POST 12"), queued("http://a.test/1", variant="POST 12")]
    )

    assert (first, second, variants) == (2, 1, 1)
    assert await storage.totals() == Totals(done=0, queued=4)


async def test_claims_go_by_priority_then_depth_and_keep_to_the_room_per_host(
    storage: Storage,
) -> None:
    await storage.add_requests(
        [
            queued("http://a.test/deep", depth=2),
            queued("http://a.test/top", depth=0),
            queued("http://a.test/mid", depth=1),
            queued("http://a.test/urgent", depth=3, priority=5),
            queued("http://b.test/b"),
        ]
    )

    first = await storage.claim_next(10, lambda host: 3 if host == "a.test" else 5)

    assert [r.url for r in first.requests] == [
        "http://a.test/urgent",
        "http://a.test/top",
        "http://a.test/mid",
        "http://b.test/b",
    ]
    assert await claim(storage) == ["http://a.test/deep"]
    assert await claim(storage) == []


async def test_claims_take_hosts_in_turn(storage: Storage) -> None:
    hosts = ["a.test", "b.test", "c.test"]
    await storage.add_requests([queued(f"http://{h}/{n}") for h in hosts for n in range(3)])

    batches = [(await storage.claim_next(1, room(1))).requests[0].host for _ in range(6)]

    assert batches == ["a.test", "b.test", "c.test", "a.test", "b.test", "c.test"]


async def test_request_options_come_back_as_they_were_stored(storage: Storage) -> None:
    post = RequestOptions(
        method="POST",
        headers=(("X-Token", "t"),),
        body=b'{"q": 1}',
        meta='{"page": 2}',
        handler="search",
        variant="POST 1234",
    )
    await storage.add_requests(
        [queued("http://a.test/plain"), CrawlRequest("http://a.test/s", "a.test", 0, options=post)]
    )

    claimed = (await storage.claim_next(10, room(10))).requests

    assert [(c.url, c.options) for c in claimed] == [
        ("http://a.test/plain", None),
        ("http://a.test/s", post),
    ]


async def test_a_released_request_comes_back_with_its_retries_once_due(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/")])
    [request] = (await storage.claim_next(1, room(1))).requests
    retry_at = time.time() + 0.3
    again = CrawlRequest(request.url, request.host, 0, retries=1, id=request.id)

    await storage.release([again], not_before=retry_at)
    waiting = await storage.claim_next(1, room(1))
    await asyncio.sleep(retry_at - time.time() + 0.05)
    due = await storage.claim_next(1, room(1))

    assert waiting.requests == ()
    assert waiting.next_due == pytest.approx(retry_at)
    assert [(r.url, r.retries) for r in due.requests] == [("http://a.test/", 1)]


async def test_released_requests_are_due_at_once_and_unclaimed_ones_stay_as_they_are(
    storage: Storage,
) -> None:
    await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])
    [first] = (await storage.claim_next(1, room(1))).requests
    [second] = (await storage.claim_next(1, room(1))).requests
    await finish(storage, second)

    await storage.release([first, second])  # as at shutdown; `second` is recorded already

    assert await claim(storage) == ["http://a.test/1"]
    assert await storage.totals() == Totals(done=1, queued=1, recorded=1)


async def test_a_claimed_request_is_not_claimed_twice(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])

    first, second = await claim(storage, limit=1), await claim(storage, limit=1)

    assert first != second
    assert await claim(storage) == []


async def test_claims_of_a_crashed_run_are_claimed_again(backend: Backend) -> None:
    storage = await backend.open()
    await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])
    assert len(await claim(storage)) == 2
    await backend.crash(storage)

    reopened = await backend.open()

    assert await claim(reopened) == ["http://a.test/1", "http://a.test/2"]
    await reopened.close()


async def test_a_record_and_its_discoveries_are_saved_together(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/")])
    [page] = (await storage.claim_next(1, room(1))).requests
    found = (queued("http://a.test/x", 1), queued("http://a.test/", 1))

    new = await finish(storage, page, discovered=found)

    assert new == 1
    assert await storage.totals() == Totals(done=1, queued=1, recorded=1)
    assert [r.url async for r in storage.iter_records()] == ["http://a.test/"]
    assert await storage.is_recorded("http://a.test/")
    assert not await storage.is_recorded("http://a.test/x")


async def test_redirect_hops_are_recorded_unless_already_claimed(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/old"), queued("http://a.test/busy")])
    old, busy = (await storage.claim_next(2, room(2))).requests
    hops = tuple(
        (queued(url), record_of(queued(url), status=200))
        for url in ("http://a.test/new", "http://a.test/busy")
    )

    await finish(storage, old, redirected=hops)

    assert sorted([r.url async for r in storage.iter_records()]) == [
        "http://a.test/new",
        "http://a.test/old",
    ]
    await finish(storage, busy)
    assert await storage.totals() == Totals(done=3, queued=0, recorded=3)


async def test_items_are_stored_in_the_transaction_of_their_page(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])
    first, second = (await storage.claim_next(2, room(2))).requests
    items = (
        ItemRecord("http://a.test/1", "product", '{"name": "a"}'),
        ItemRecord("http://a.test/1", "product", '{"name": "b"}'),
    )
    refused = ItemRecord("http://a.test/2", "product", None)  # type: ignore[arg-type]  # no data: a row the database must refuse

    await finish(storage, first, items=items)
    with pytest.raises(StorageError):
        await finish(storage, second, items=(refused,))

    assert [item async for item in storage.iter_items()] == list(items)
    assert [r.url async for r in storage.iter_records()] == ["http://a.test/1"]
    assert (await storage.stats()).items == 2


async def test_a_kept_exchange_comes_back_with_its_record_as_it_was(storage: Storage) -> None:
    await storage.add_requests([queued(f"http://a.test/{n}") for n in range(3)])
    first, plain, last = (await storage.claim_next(3, room(3))).requests
    body = b"<html>" + b"same words " * 1000 + b"</html>"
    capture = HttpCapture(
        b"GET /0 HTTP/1.1\r\nHost: a.test\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", body
    )
    empty = HttpCapture(b"POST /2 HTTP/1.1\r\n\r\nq=1", b"HTTP/1.1 204 No Content\r\n\r\n", b"")

    await finish(storage, first, capture=capture)
    await finish(storage, plain)
    await finish(storage, last, capture=empty)

    found = [(record.url, kept) async for record, kept in storage.iter_captures()]
    assert found == [("http://a.test/0", capture), ("http://a.test/2", empty)]


async def test_trap_counts_add_up_across_batches(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/1"), queued("http://a.test/2")])
    first, second = (await storage.claim_next(2, room(2))).requests

    await finish(storage, first, limits_hit={"url_too_long": 2, "path_too_deep": 1})
    await finish(storage, second, limits_hit={"url_too_long": 3})

    assert (await storage.stats()).limits_hit == {"path_too_deep": 1, "url_too_long": 5}


async def test_a_runs_proxy_figures_replace_the_last_runs(storage: Storage) -> None:
    first = ProxyFigures(requests=10, failures=1, bans=0, evicted=False, avg_latency_ms=12)
    second = ProxyFigures(requests=4, failures=4, bans=2, evicted=True, avg_latency_ms=80)

    await storage.save_run(RunEnd({"http://p.test:1": first, "http://q.test:2": first}))
    await storage.save_run(RunEnd({"http://p.test:1": second}))

    assert (await storage.stats()).proxies == {
        "http://p.test:1": second,
        "http://q.test:2": first,
    }


async def test_a_runs_host_budget_counts_what_it_left_queued(storage: Storage) -> None:
    await storage.add_requests(
        [queued(f"http://a.test/{n}") for n in range(5)] + [queued("http://b.test/0")]
    )
    claimed = (await storage.claim_next(3, lambda host: 2 if host == "a.test" else 1)).requests
    for request in claimed:
        await finish(storage, request)

    await storage.save_run(RunEnd(host_budget=2))

    assert (await storage.stats()).limits_hit == {"max_pages_per_host": 3}
    assert await storage.totals(by_host=True) == Totals(
        3, 3, {"a.test": 2, "b.test": 1}, recorded=3
    )


async def test_stats_count_records_by_status_error_and_host(storage: Storage) -> None:
    await storage.add_requests([queued("http://a.test/1"), queued("http://b.test/1")])
    ok, missing = (await storage.claim_next(2, room(2))).requests
    await storage.mark_done(
        [Outcome(ok, record_of(ok)), Outcome(missing, record_of(missing, status=404))]
    )

    stats = await storage.stats()

    assert (stats.done, stats.queued) == (2, 0)
    assert stats.by_status == {"200": 1, "404": 1}
    assert stats.by_error == {"http": 1, "none": 1}
    assert stats.by_host == {"a.test": 1, "b.test": 1}
    assert stats.first_fetched_at == stats.last_fetched_at == "2026-11-30T00:00:00.000Z"


async def test_the_previous_schema_version_is_upgraded_without_loss(
    backend_with_history: Backend,
) -> None:
    backend_with_history.write_previous_version()

    storage = await backend_with_history.open()
    stats = await storage.stats()

    assert [r.url async for r in storage.iter_records()] == [OLD_RECORD]
    assert [item.data async for item in storage.iter_items()] == [OLD_ITEM]
    assert [(r.url, c) async for r, c in storage.iter_captures()] == [
        (OLD_RECORD, HttpCapture(b"", b"", OLD_BODY))
    ]
    assert await claim(storage) == [OLD_QUEUED]
    assert stats.limits_hit == OLD_LIMITS_HIT
    assert stats.proxies == {OLD_PROXY: OLD_PROXY_FIGURES}
    await storage.close()


async def test_the_previous_schema_version_can_be_read_without_an_upgrade(
    backend_with_history: Backend,
) -> None:
    backend_with_history.write_previous_version()

    storage = await backend_with_history.open_read_only()
    stats = await storage.stats()
    records = [r.url async for r in storage.iter_records()]
    items = [item.data async for item in storage.iter_items()]
    bodies = [capture.body async for _, capture in storage.iter_captures()]
    await storage.close()

    assert (records, items, bodies) == ([OLD_RECORD], [OLD_ITEM], [OLD_BODY])
    assert (stats.done, stats.queued) == (1, 1)
    assert stats.limits_hit == OLD_LIMITS_HIT
    assert stats.proxies == {OLD_PROXY: OLD_PROXY_FIGURES}


async def test_closing_twice_is_harmless(backend: Backend) -> None:
    storage = await backend.open()

    await storage.close()
    await storage.close()


def failed(request: CrawlRequest, *, status: int | None = None, error: str) -> PageRecord:
    return replace(record_of(request), status=status, error=error, size=0, sha256=None)


async def test_broken_links_name_every_page_that_links_to_them(storage: Storage) -> None:
    pages = [queued(f"http://a.test/{n}") for n in range(1, 4)]
    await storage.add_requests(pages)
    first, second, third = (await storage.claim_next(3, room(3))).requests
    missing, down, denied = (
        CrawlRequest(f"http://a.test/{name}", "a.test", 1, first.url)
        for name in ("missing", "down", "denied")
    )
    links = (missing.url, down.url, denied.url, "http://a.test/2")
    await finish(storage, first, discovered=(missing, down, denied), linked=links)
    await finish(storage, second, linked=(missing.url, "http://elsewhere.test/"))
    await finish(storage, third, linked=(down.url, missing.url))
    claimed = {r.url: r for r in (await storage.claim_next(3, room(3))).requests}
    await storage.mark_done(
        [
            Outcome(claimed[missing.url], failed(missing, status=404, error="http")),
            Outcome(claimed[down.url], failed(down, error="connection")),
            Outcome(claimed[denied.url], failed(denied, error="robots")),
        ]
    )

    broken = await storage.broken_links(referrers_per_link=2)

    assert broken == [
        BrokenLink(missing.url, 404, "http", (first.url, second.url), 3),
        BrokenLink(down.url, None, "connection", (first.url, third.url), 2),
    ]


async def test_a_broken_link_found_in_a_sitemap_names_it_first(storage: Storage) -> None:
    sitemap = "http://a.test/sitemap.xml"
    await storage.add_requests(
        [queued("http://a.test/"), CrawlRequest("http://a.test/gone", "a.test", 1, sitemap)]
    )
    page, gone = (await storage.claim_next(2, room(2))).requests

    await finish(storage, page, linked=(gone.url,))
    await storage.mark_done([Outcome(gone, failed(gone, status=410, error="http"))])

    assert await storage.broken_links(referrers_per_link=5) == [
        BrokenLink(gone.url, 410, "http", (sitemap, page.url), 2)
    ]


async def test_records_are_counted_by_second_and_by_depth(storage: Storage) -> None:
    requests = [queued(f"http://a.test/{n}", depth=n % 2) for n in range(3)]
    await storage.add_requests(requests)
    claimed = (await storage.claim_next(3, room(3))).requests
    times = ("2026-11-30T00:00:01.900Z", "2026-11-30T00:00:00.100Z", "2026-11-30T00:00:01.000Z")

    await storage.mark_done(
        [
            Outcome(request, replace(record_of(request), fetched_at=at))
            for request, at in zip(claimed, times, strict=True)
        ]
    )

    assert await storage.records_by_second() == {
        "2026-11-30T00:00:00": 1,
        "2026-11-30T00:00:01": 2,
    }
    assert await storage.records_by_depth() == {0: 2, 1: 1}
