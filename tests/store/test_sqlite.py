"""The SQLite store's own cases: foreign and damaged files, read-only use, old schema versions.

What every backend must do is in `test_contract.py`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler.errors import StorageError
from crawler.models import BrokenLink
from crawler.store.sqlite import SqliteStorage
from crawler.store.sqlite_file import SCHEMA_VERSION
from tests.store.backends import record_a_broken_link_with_its_parent


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
    claimed = (await storage.claim_next(5, lambda _: 5)).requests
    assert [c.url for c in claimed] == ["http://a.test/next"]
    await storage.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


# What a version-8 file has that a version-7 one had not.
UNDO_VERSION_8 = (
    "DROP TABLE history; DROP INDEX items_page; ALTER TABLE items DROP COLUMN page;"
    " ALTER TABLE urls DROP COLUMN etag; ALTER TABLE urls DROP COLUMN last_modified;"
)


async def test_a_version_6_file_names_the_parent_of_a_broken_link_and_upgrades(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v6.db"
    storage = await SqliteStorage.open(path)
    await record_a_broken_link_with_its_parent(storage)
    await storage.close()
    with sqlite3.connect(path) as connection:
        connection.executescript(f"DROP TABLE links; {UNDO_VERSION_8} UPDATE meta SET value = '6';")
    expected = [BrokenLink("http://a.test/gone", 410, "http", ("http://a.test/",), 1)]

    read_only = await SqliteStorage.open(path, read_only=True)
    as_it_was = await read_only.broken_links(referrers_per_link=5)
    await read_only.close()
    upgraded = await SqliteStorage.open(path)
    after_upgrade = await upgraded.broken_links(referrers_per_link=5)
    await upgraded.close()

    assert as_it_was == after_upgrade == expected
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT value FROM meta").fetchone() == ("8",)
        assert connection.execute("SELECT count(*) FROM links").fetchone() == (0,)
