"""The storage backends the contract suite runs against, each behind one small interface."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from crawler.models import CrawlRequest, Outcome, PageRecord, ProxyFigures
from crawler.store import Storage
from crawler.store.postgres import PostgresStorage
from crawler.store.sqlite import SqliteStorage


class Backend(Protocol):
    """Opens one database of a backend, as often as a test asks."""

    name: str

    async def open(self) -> Storage:
        """The test's database: created empty on the first call, the same one afterwards."""

    async def open_read_only(self) -> Storage:
        """The test's database for reading (export, stats), which it must not change."""

    async def crash(self, storage: Storage) -> None:
        """Leave `storage` as a killed process would: nothing released, nothing flushed."""

    def write_previous_version(self) -> None:
        """Create the test's database in the schema version before this one, holding one
        record (its body kept), one queued request, one item, a trap-limit count and one
        proxy's figures (the OLD_* values below)."""


# What `write_previous_version` puts in the database.
OLD_RECORD, OLD_QUEUED, OLD_ITEM = "http://a.test/", "http://a.test/next", '{"name": "a"}'
OLD_BODY = b"hello"  # kept raw, without heads, before captures were
OLD_LIMITS_HIT = {"url_too_long": 2}
OLD_PROXY = "http://u:***@p.test:3128"
OLD_PROXY_FIGURES = ProxyFigures(requests=7, failures=2, bans=1, evicted=True, avg_latency_ms=35)


class SqliteBackend:
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self._path = directory / "crawl.db"

    async def open(self) -> Storage:
        return await SqliteStorage.open(self._path)

    async def open_read_only(self) -> Storage:
        return await SqliteStorage.open(self._path, read_only=True)

    async def crash(self, storage: Storage) -> None:
        await storage.close()  # a killed process releases nothing: its claims stay in the file

    def write_previous_version(self) -> None:
        figures = OLD_PROXY_FIGURES.as_dict()
        with sqlite3.connect(self._path) as connection:
            connection.executescript(_SQLITE_VERSION_4)
            connection.executemany(
                "INSERT INTO counters VALUES (?, ?)",
                [
                    *OLD_LIMITS_HIT.items(),
                    *((f"proxy {OLD_PROXY} {name}", value) for name, value in figures.items()),
                ],
            )


class PostgresBackend:
    name = "postgres"
    LEASE_S = 0.5  # short, so a crashed process's hosts are taken over within the test

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def open(self) -> Storage:
        return await PostgresStorage.open(self._dsn, lease_s=self.LEASE_S)

    async def open_read_only(self) -> Storage:
        return await PostgresStorage.open(self._dsn, read_only=True)

    async def crash(self, storage: Storage) -> None:
        assert isinstance(storage, PostgresStorage)
        await storage.abandon()
        await asyncio.sleep(self.LEASE_S + 0.2)  # its leases run out

    def write_previous_version(self) -> None:
        raise NotImplementedError("this is the first PostgreSQL schema")


async def record_a_broken_link_with_its_parent(storage: Storage) -> None:
    """Record /gone (410), first found on /, which also links to it."""
    await storage.add_requests([CrawlRequest("http://a.test/", "a.test", 0)])
    [page] = (await storage.claim_next(1, lambda _: 1)).requests
    gone = CrawlRequest("http://a.test/gone", "a.test", 1, page.url)
    record = PageRecord(page.url, page.url, 200, 0, None, "text/html", 1, "ab", None, 0, "", 1)
    await storage.mark_done([Outcome(page, record, (gone,), linked=(gone.url,))])
    [claimed] = (await storage.claim_next(1, lambda _: 1)).requests
    missing = replace(record, url=gone.url, final_url=gone.url, status=410, error="http")
    await storage.mark_done([Outcome(claimed, replace(missing, parent=page.url, depth=1))])


BACKENDS = ("sqlite", "postgres")
WITH_EARLIER_VERSIONS = ("sqlite",)

# Schema version 4 as the crawler of 2026-11-26 wrote it.
_SQLITE_VERSION_4 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '4');
CREATE TABLE urls (
    id INTEGER PRIMARY KEY, url TEXT NOT NULL, variant TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL, depth INTEGER NOT NULL, parent TEXT,
    state INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
    final_url TEXT, status INTEGER, content_type TEXT, size INTEGER, sha256 TEXT,
    error TEXT, fetched_at TEXT, elapsed_ms INTEGER, redirects INTEGER NOT NULL DEFAULT 0,
    not_before REAL, priority INTEGER NOT NULL DEFAULT 0, method TEXT, headers TEXT,
    request_body BLOB, meta TEXT, handler TEXT, UNIQUE (url, variant));
CREATE INDEX urls_queued ON urls (host, priority DESC, depth, id) WHERE state = 0;
CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY, url TEXT NOT NULL, handler TEXT NOT NULL,
    data TEXT NOT NULL);
INSERT INTO urls (url, host, depth, state, final_url, status, content_type, size, sha256,
    fetched_at, elapsed_ms)
    VALUES ('http://a.test/', 'a.test', 0, 2, 'http://a.test/', 200, 'text/html', 5,
    'ab', '2026-11-26T00:00:00.000Z', 3);
INSERT INTO urls (url, host, depth, parent) VALUES
    ('http://a.test/next', 'a.test', 1, 'http://a.test/');
INSERT INTO items (url, handler, data) VALUES ('http://a.test/', 'page', '{"name": "a"}');
INSERT INTO bodies (id, body) VALUES (1, CAST('hello' AS BLOB));
"""
