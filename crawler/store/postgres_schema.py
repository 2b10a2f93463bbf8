"""The PostgreSQL schema: the same tables as the SQLite file, plus `hosts`, whose leases share
the work out among the processes of one crawl.

Only `crawler.store.postgres` uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from crawler.errors import StorageError
from crawler.store.rows import PROXY_FIGURES

if TYPE_CHECKING:
    from asyncpg import Record
    from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "PoolConnectionProxy[Record]"
"""A connection taken from the pool."""

SCHEMA_VERSION = "4"
QUEUED, CLAIMED, DONE = 0, 1, 2  # the values of urls.state, as in the SQLite file
_SCHEMA_LOCK = 4_747_001  # an advisory lock: processes starting together create tables once

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS urls (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url          TEXT     NOT NULL,
    variant      TEXT     NOT NULL DEFAULT '',
    host         TEXT     NOT NULL,
    depth        INTEGER  NOT NULL,
    parent       TEXT,
    state        SMALLINT NOT NULL DEFAULT {QUEUED},
    retries      INTEGER  NOT NULL DEFAULT 0,
    final_url    TEXT,
    status       INTEGER,
    content_type TEXT,
    size         BIGINT,
    sha256       TEXT,
    error        TEXT,
    fetched_at   TEXT,
    elapsed_ms   INTEGER,
    redirects    INTEGER  NOT NULL DEFAULT 0,
    not_before   DOUBLE PRECISION,
    priority     INTEGER  NOT NULL DEFAULT 0,
    method       TEXT,
    headers      TEXT,
    request_body BYTEA,
    meta         TEXT,
    handler      TEXT,
    claimed_by   TEXT,
    etag         TEXT,
    last_modified TEXT,
    UNIQUE (url, variant)
);
CREATE INDEX IF NOT EXISTS urls_queued ON urls (host, priority DESC, depth, id)
    WHERE state = {QUEUED};
CREATE INDEX IF NOT EXISTS urls_requeued ON urls (host, priority DESC, depth, id)
    WHERE state = {QUEUED} AND fetched_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS urls_claimed ON urls (host) WHERE state = {CLAIMED};
CREATE INDEX IF NOT EXISTS urls_waiting ON urls (not_before)
    WHERE state = {QUEUED} AND not_before IS NOT NULL;
CREATE TABLE IF NOT EXISTS hosts (
    host        TEXT PRIMARY KEY,
    holder      TEXT,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    leased_at   DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bodies (
    id            BIGINT PRIMARY KEY,
    body          BYTEA NOT NULL,
    codec         TEXT,
    request       BYTEA,
    response_head BYTEA
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url     TEXT NOT NULL,
    handler TEXT NOT NULL,
    data    TEXT NOT NULL,
    page    BIGINT
);
CREATE TABLE IF NOT EXISTS history (
    id         BIGINT   NOT NULL,
    fetched_at TEXT     NOT NULL,
    status     INTEGER,
    sha256     TEXT,
    error      TEXT,
    kept       SMALLINT NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    id      BIGINT PRIMARY KEY,
    targets BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS proxies (
    proxy TEXT PRIMARY KEY,
    {", ".join(f"{figure} BIGINT NOT NULL" for figure in PROXY_FIGURES)}
);
INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
    ON CONFLICT (key) DO NOTHING;
"""
# Each step brings a database from the version before it to the next; older records lose nothing.
_UPGRADES = {
    # Version 2 keeps each kept page's request and response head, and its body compressed.
    "1": "ALTER TABLE bodies ADD COLUMN IF NOT EXISTS codec TEXT,"
    " ADD COLUMN IF NOT EXISTS request BYTEA, ADD COLUMN IF NOT EXISTS response_head BYTEA;",
    # Version 3 keeps links (those of pages recorded before have only their `parent`); SCHEMA
    # has made the table by the time the steps run.
    "2": "SELECT 1;",
    # Version 4 recrawls: validators, items by page (replaced when it changes), and history,
    # which starts with the records as they are.
    "3": "ALTER TABLE urls ADD COLUMN IF NOT EXISTS etag TEXT,"
    " ADD COLUMN IF NOT EXISTS last_modified TEXT;"
    " ALTER TABLE items ADD COLUMN IF NOT EXISTS page BIGINT;"
    " UPDATE items SET page = urls.id FROM urls WHERE urls.url = items.url AND variant = '';"
    " INSERT INTO history SELECT id, fetched_at, status, sha256, error, 0 FROM urls"
    " WHERE fetched_at IS NOT NULL ORDER BY id;",
}
# What needs the columns the steps add: made once they have run.
_AFTER_UPGRADES = "CREATE INDEX IF NOT EXISTS items_page ON items (page);"


async def prepare(connection: Connection, shown: str, *, read_only: bool) -> None:
    """Create the tables unless they exist (or, `read_only`, insist they do), and check the
    schema version. Raises `StorageError` naming the database as `shown`."""
    if not read_only:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await connection.execute(SCHEMA)
            await _upgrade(connection)
            await connection.execute(_AFTER_UPGRADES)
    has_meta = await connection.fetchval("SELECT to_regclass('meta') IS NOT NULL")
    found = None
    if has_meta:
        found = await connection.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    if found is None:
        raise StorageError(f"{shown} holds no crawl (no crawl tables)")
    if found in _UPGRADES:
        raise StorageError(
            f"{shown} has crawl schema version {found}; run a crawl on it once to upgrade it"
        )
    if found != SCHEMA_VERSION:
        raise StorageError(
            f"{shown} has crawl schema version {found}, this crawler uses {SCHEMA_VERSION}"
        )


async def _upgrade(connection: Connection) -> None:
    """All steps from the database's version on (in the caller's transaction)."""
    version = await connection.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    while version in _UPGRADES:
        await connection.execute(_UPGRADES[version])
        version = str(int(version) + 1)
        await connection.execute("UPDATE meta SET value = $1 WHERE key = 'schema_version'", version)
