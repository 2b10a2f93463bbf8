"""The SQLite store: queueing, claiming, recording, resume, and bad database files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler.errors import StorageError
from crawler.models import CrawlRequest, ItemRecord, Outcome, PageRecord, RequestOptions
from crawler.store.sqlite import SqliteStorage


def request(url: str, host: str = "a.test", depth: int = 0) -> CrawlRequest:
    return CrawlRequest(url, host, depth)


def record_for(claimed: CrawlRequest) -> PageRecord:
    return PageRecord(
        claimed.url,
        claimed.url,
        200,
        claimed.depth,
        claimed.parent,
        "text/html",
        3,
        "ab" * 32,
        None,
        0,
        "2026-11-25T00:00:00.000Z",
        5,
    )


def room(limit: int) -> object:
    return lambda _host: limit


async def test_the_same_url_is_queued_once(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")

    first = await storage.add_requests([request("http://a.test/1"), request("http://a.test/2")])
    second = await storage.add_requests([request("http://a.test/1"), request("http://a.test/3")])

    assert (first, second) == (2, 1)
    assert await storage.count() == (0, 3)
    await storage.close()


async def test_claims_are_breadth_first_per_host_and_respect_room(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")
    await storage.add_requests(
        [
            request("http://a.test/deep", depth=2),
            request("http://a.test/top", depth=0),
            request("http://a.test/mid", depth=1),
            request("http://b.test/b", "b.test"),
        ]
    )

    claimed = await storage.claim_next(10, lambda host: 2 if host == "a.test" else 5)

    assert [r.url for r in claimed] == ["http://a.test/top", "http://a.test/mid", "http://b.test/b"]
    assert [r.url for r in await storage.claim_next(10, lambda _: 5)] == ["http://a.test/deep"]
    assert await storage.claim_next(10, lambda _: 5) == []
    await storage.close()


async def test_claims_take_hosts_in_turn(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")
    hosts = ["a.test", "b.test", "c.test"]
    await storage.add_requests([request(f"http://{h}/{n}", h) for h in hosts for n in range(3)])

    batches = [[r.host for r in await storage.claim_next(1, lambda _: 1)] for _ in range(6)]

    assert batches == [["a.test"], ["b.test"], ["c.test"], ["a.test"], ["b.test"], ["c.test"]]
    await storage.close()


async def test_done_records_and_discovered_urls_are_saved_together(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")
    await storage.add_requests([request("http://a.test/")])
    [claimed] = await storage.claim_next(5, lambda _: 5)

    new = await storage.mark_done(
        [
            Outcome(
                claimed,
                record_for(claimed),
                (
                    CrawlRequest("http://a.test/x", "a.test", 1, claimed.url),
                    CrawlRequest("http://a.test/", "a.test", 1, claimed.url),
                ),
            )
        ]
    )

    assert new == 1
    assert await storage.count() == (1, 1)
    assert [r.url async for r in storage.iter_records()] == ["http://a.test/"]
    await storage.close()


async def test_reopening_puts_claimed_but_unfinished_requests_back(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")
    await storage.add_requests([request("http://a.test/1"), request("http://a.test/2")])
    assert len(await storage.claim_next(5, lambda _: 5)) == 2
    await storage.close()

    reopened = await SqliteStorage.open(tmp_path / "c.db")

    assert [r.url for r in await reopened.claim_next(5, lambda _: 5)] == [
        "http://a.test/1",
        "http://a.test/2",
    ]
    await reopened.close()


async def test_released_requests_can_be_claimed_again(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "c.db")
    await storage.add_requests([request("http://a.test/1")])
    claimed = await storage.claim_next(5, lambda _: 5)

    await storage.release(claimed)

    assert await storage.claim_next(5, lambda _: 5) == claimed
    await storage.close()


async def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"my precious notes\n" * 200)

    with pytest.raises(StorageError, match=r"notes\.db"):
        await SqliteStorage.open(path)

    assert path.read_bytes() == b"my precious notes\n" * 200


async def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")

    with pytest.raises(StorageError, match="not a crawl database"):
        await SqliteStorage.open(path)


async def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    await (await SqliteStorage.open(path)).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(StorageError, match="schema version 99"):
        await SqliteStorage.open(path)


async def test_a_database_in_an_unwritable_place_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(StorageError, match="cannot create the directory"):
        await SqliteStorage.open(blocker / "sub" / "c.db")


async def test_read_only_open_does_not_create_a_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="database not found"):
        await SqliteStorage.open(tmp_path / "none.db", read_only=True)

    assert not (tmp_path / "none.db").exists()


async def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
                host TEXT NOT NULL, depth INTEGER NOT NULL, parent TEXT,
                state INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
                final_url TEXT, status INTEGER, content_type TEXT, size INTEGER, sha256 TEXT,
                error TEXT, fetched_at TEXT, elapsed_ms INTEGER);
            INSERT INTO urls (url, host, depth, state, status, size)
                VALUES ('http://a.test/', 'a.test', 0, 2, 200, 5);
            """
        )

    with pytest.raises(StorageError, match="run a crawl on it once"):
        await SqliteStorage.open(path, read_only=True)
    storage = await SqliteStorage.open(path)

    assert [(r.url, r.status, r.redirects) async for r in storage.iter_records()] == [
        ("http://a.test/", 200, 0)
    ]
    await storage.close()


async def test_request_options_survive_the_store_and_priority_comes_first(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "crawl.db")
    post = RequestOptions(
        method="POST",
        headers=(("X-Token", "t"),),
        body=b'{"q": 1}',
        meta='{"page": 2}',
        handler="search",
        variant="POST 1234",
    )
    await storage.add_requests(
        [
            request("http://a.test/plain"),
            CrawlRequest("http://a.test/search", "a.test", 0, options=post),
            CrawlRequest("http://a.test/urgent", "a.test", 1, options=RequestOptions(priority=5)),
        ]
    )

    claimed = await storage.claim_next(10, room(10))  # type: ignore[arg-type]

    assert [c.url for c in claimed] == [
        "http://a.test/urgent",
        "http://a.test/plain",
        "http://a.test/search",
    ]
    assert claimed[0].options == RequestOptions(priority=5)
    assert claimed[1].options is None
    assert claimed[2].options == post
    await storage.close()


async def test_variants_of_one_url_are_queued_apart_and_each_once(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "crawl.db")
    variant = CrawlRequest("http://a.test/", "a.test", 0, options=RequestOptions(variant="x"))

    added = await storage.add_requests([request("http://a.test/"), variant, variant])

    assert added == 2
    await storage.close()


async def test_items_are_stored_with_their_page_and_read_back_in_order(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "crawl.db")
    await storage.add_requests([request("http://a.test/")])
    [claimed] = await storage.claim_next(1, room(1))  # type: ignore[arg-type]
    items = (
        ItemRecord("http://a.test/", "product", '{"name": "a"}'),
        ItemRecord("http://a.test/", "product", '{"name": "b"}'),
    )

    await storage.mark_done([Outcome(claimed, record_for(claimed), items=items)])

    assert [item async for item in storage.iter_items()] == list(items)
    assert (await storage.stats()).items == 2
    await storage.close()


async def test_a_version_3_database_is_rebuilt_without_losing_a_record(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '3');
            CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
                host TEXT NOT NULL, depth INTEGER NOT NULL, parent TEXT,
                state INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
                final_url TEXT, status INTEGER, content_type TEXT, size INTEGER, sha256 TEXT,
                error TEXT, fetched_at TEXT, elapsed_ms INTEGER,
                redirects INTEGER NOT NULL DEFAULT 0, not_before REAL);
            CREATE INDEX urls_queued ON urls (host, depth, id) WHERE state = 0;
            INSERT INTO urls (url, host, depth, state, status, size, redirects)
                VALUES ('http://a.test/', 'a.test', 0, 2, 200, 5, 1);
            INSERT INTO urls (url, host, depth, parent) VALUES
                ('http://a.test/next', 'a.test', 1, 'http://a.test/');
            """
        )

    storage = await SqliteStorage.open(path)

    assert [(r.url, r.status, r.redirects) async for r in storage.iter_records()] == [
        ("http://a.test/", 200, 1)
    ]
    assert [c.url for c in await storage.claim_next(5, room(5))] == [  # type: ignore[arg-type]
        "http://a.test/next"
    ]
    await storage.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT value FROM meta").fetchone() == ("4",)
