"""The PostgreSQL schema's own cases: a version-1 database (before captures) or version-2 one
(before links) is upgraded in place by a crawl, and refused (with the way out) by a read-only
use."""

from __future__ import annotations

import asyncpg
import pytest

from crawler.errors import StorageError
from crawler.models import BrokenLink, HttpCapture
from crawler.store.postgres import PostgresStorage
from crawler.store.postgres_schema import SCHEMA_VERSION
from tests.store.backends import record_a_broken_link_with_its_parent

VERSION_1 = """
ALTER TABLE bodies DROP COLUMN codec, DROP COLUMN request, DROP COLUMN response_head;
UPDATE meta SET value = '1' WHERE key = 'schema_version';
INSERT INTO urls (id, url, host, depth, state, final_url, status, size, fetched_at)
    OVERRIDING SYSTEM VALUE
    VALUES (1, 'http://a.test/', 'a.test', 0, 2, 'http://a.test/', 200, 5,
    '2026-11-26T00:00:00.000Z');
INSERT INTO bodies (id, body) VALUES (1, 'hello'::bytea);
"""


async def test_a_version_1_database_is_upgraded_by_a_crawl_and_keeps_its_bodies(
    postgres_dsn: str,
) -> None:
    await (await PostgresStorage.open(postgres_dsn)).close()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await connection.execute(VERSION_1)
    finally:
        await connection.close()

    with pytest.raises(StorageError, match="version 1; run a crawl on it once to upgrade it"):
        await PostgresStorage.open(postgres_dsn, read_only=True)
    storage = await PostgresStorage.open(postgres_dsn)
    kept = [(record.url, capture) async for record, capture in storage.iter_captures()]
    await storage.close()

    assert kept == [("http://a.test/", HttpCapture(b"", b"", b"hello"))]
    connection = await asyncpg.connect(postgres_dsn)
    try:
        version = await connection.fetchval("SELECT value FROM meta")
    finally:
        await connection.close()
    assert version == SCHEMA_VERSION == "4"


async def test_a_version_2_database_names_the_parent_of_a_broken_link_once_upgraded(
    postgres_dsn: str,
) -> None:
    storage = await PostgresStorage.open(postgres_dsn)
    await record_a_broken_link_with_its_parent(storage)
    await storage.close()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await connection.execute("DROP TABLE links; UPDATE meta SET value = '2'")
    finally:
        await connection.close()

    with pytest.raises(StorageError, match="version 2; run a crawl on it once to upgrade it"):
        await PostgresStorage.open(postgres_dsn, read_only=True)
    upgraded = await PostgresStorage.open(postgres_dsn)
    broken = await upgraded.broken_links(referrers_per_link=5)
    await upgraded.close()

    assert broken == [BrokenLink("http://a.test/gone", 410, "http", ("http://a.test/",), 1)]
