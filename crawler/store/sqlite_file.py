"""An SQLite crawl file: opening it, its tables and version, upgrades, and transactions.

Only `crawler.store.sqlite` uses it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from enum import IntEnum
from pathlib import Path
from typing import final

import aiosqlite

from crawler.errors import StorageError
from crawler.store.rows import PROXY_FIGURES

SCHEMA_VERSION = 8
READ_ONLY_VERSIONS = ("4", "5", "6", "7", "8")  # versions read as they are, without an upgrade


class State(IntEnum):
    """Where a row of `urls` stands."""

    QUEUED = 0
    CLAIMED = 1
    DONE = 2


_URLS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id           INTEGER PRIMARY KEY,
    url          TEXT    NOT NULL,
    variant      TEXT    NOT NULL DEFAULT '',
    host         TEXT    NOT NULL,
    depth        INTEGER NOT NULL,
    parent       TEXT,
    state        INTEGER NOT NULL DEFAULT 0,
    retries      INTEGER NOT NULL DEFAULT 0,
    final_url    TEXT,
    status       INTEGER,
    content_type TEXT,
    size         INTEGER,
    sha256       TEXT,
    error        TEXT,
    fetched_at   TEXT,
    elapsed_ms   INTEGER,
    redirects    INTEGER NOT NULL DEFAULT 0,
    not_before   REAL,
    priority     INTEGER NOT NULL DEFAULT 0,
    method       TEXT,
    headers      TEXT,
    request_body BLOB,
    meta         TEXT,
    handler      TEXT,{validators}
    UNIQUE (url, variant)
);
"""
_VALIDATOR_COLUMNS = ("etag", "last_modified")
_COUNTERS_TABLE = """
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
_ITEMS_TABLE = """
CREATE TABLE IF NOT EXISTS items (
    id      INTEGER PRIMARY KEY,
    url     TEXT NOT NULL,
    handler TEXT NOT NULL,
    data    TEXT NOT NULL,
    page    INTEGER
);
CREATE INDEX IF NOT EXISTS items_page ON items (page);
"""
# Every fetch of a page, recorded or `kept` (it left the record as it was): see
# `crawler.changes`, which reads it for `export --changes-since`.
_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS history (
    id         INTEGER NOT NULL,
    fetched_at TEXT    NOT NULL,
    status     INTEGER,
    sha256     TEXT,
    error      TEXT,
    kept       INTEGER NOT NULL
);
"""
# The links of each page (see `crawler.store.referrers`), for the referrers of broken links.
_LINKS_TABLE = "CREATE TABLE IF NOT EXISTS links (id INTEGER PRIMARY KEY, targets BLOB NOT NULL);"
_PROXIES_TABLE = (
    "CREATE TABLE IF NOT EXISTS proxies (proxy TEXT PRIMARY KEY, "
    + ", ".join(f"{figure} INTEGER NOT NULL" for figure in PROXY_FIGURES)
    + ");"
)
PROXIES_QUERY = f"SELECT proxy, {', '.join(PROXY_FIGURES)} FROM proxies ORDER BY proxy"
# Up to version 4, each proxy figure was a counter named "proxy <url> <figure>".
_V4_PROXY = (
    "substr(counters.name, 7, length(counters.name) - 15)"  # between "proxy " and " requests"
)
V4_PROXIES_QUERY = (
    f"SELECT {_V4_PROXY} AS proxy, "
    + ", ".join(
        f"coalesce((SELECT value FROM counters AS figure"
        f" WHERE figure.name = 'proxy ' || {_V4_PROXY} || ' {name}'), 0)"
        for name in PROXY_FIGURES
    )
    + " FROM counters WHERE counters.name LIKE 'proxy % requests' ORDER BY proxy"
)
_V3_COLUMNS = (
    "id, url, host, depth, parent, state, retries, final_url, status, content_type, size,"
    " sha256, error, fetched_at, elapsed_ms, redirects, not_before"
)
# Each step brings a database from the version before it to the next; older records lose nothing.
_UPGRADES = {
    "1": "ALTER TABLE urls ADD COLUMN redirects INTEGER NOT NULL DEFAULT 0;",
    "2": "ALTER TABLE urls ADD COLUMN not_before REAL;",
    # Version 4 lets one URL have several requests (variants): the unique key changes, and
    # SQLite changes a table's constraints only by building the table again.
    "3": _URLS_TABLE.format(name="urls_v4", validators="")
    + f"INSERT INTO urls_v4 ({_V3_COLUMNS}) SELECT {_V3_COLUMNS} FROM urls;"
    " DROP TABLE urls; ALTER TABLE urls_v4 RENAME TO urls;",
    # Version 5 keeps the proxies' figures in a table of their own.
    "4": _PROXIES_TABLE
    + _COUNTERS_TABLE
    + f"INSERT INTO proxies {V4_PROXIES_QUERY}; DELETE FROM counters WHERE name LIKE 'proxy %';",
    # Version 6 keeps each kept page's request and response head, and its body compressed.
    "5": "CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
    " ALTER TABLE bodies ADD COLUMN codec TEXT; ALTER TABLE bodies ADD COLUMN request BLOB;"
    " ALTER TABLE bodies ADD COLUMN response_head BLOB;",
    # Version 7 keeps links (those of pages recorded before have only their `parent`).
    "6": _LINKS_TABLE,
    # Version 8 recrawls: validators, items by page (replaced when it changes), and history,
    # which starts with the records as they are.
    "7": " ".join(f"ALTER TABLE urls ADD COLUMN {column} TEXT;" for column in _VALIDATOR_COLUMNS)
    + " CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, url TEXT NOT NULL,"
    " handler TEXT NOT NULL, data TEXT NOT NULL); ALTER TABLE items ADD COLUMN page INTEGER;"
    " UPDATE items SET page = (SELECT id FROM urls WHERE urls.url = items.url AND variant = '');"
    + _HISTORY_TABLE
    + "INSERT INTO history SELECT id, fetched_at, status, sha256, error, 0 FROM urls"
    " WHERE fetched_at IS NOT NULL ORDER BY id;",
}

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
    + _URLS_TABLE.format(
        name="urls", validators="".join(f"\n    {c} TEXT," for c in _VALIDATOR_COLUMNS)
    )
    + f"""
CREATE INDEX IF NOT EXISTS urls_queued ON urls (host, priority DESC, depth, id)
    WHERE state = {State.QUEUED:d};
CREATE INDEX IF NOT EXISTS urls_requeued ON urls (host, priority DESC, depth, id)
    WHERE state = {State.QUEUED:d} AND fetched_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS bodies (
    id            INTEGER PRIMARY KEY,
    body          BLOB NOT NULL,
    codec         TEXT,
    request       BLOB,
    response_head BLOB
);
"""
    + _ITEMS_TABLE
    + _HISTORY_TABLE
    + _COUNTERS_TABLE
    + _PROXIES_TABLE
    + _LINKS_TABLE
)


async def prepare(db: aiosqlite.Connection, path: Path, *, read_only: bool) -> str:
    """Check that `db` is a crawl database of a version this crawler reads; unless
    `read_only`, create or upgrade its tables and put back what a killed run left claimed.
    Returns the schema version the file now has.

    Raises `StorageError` for a foreign or newer file; sqlite3 errors pass through.
    """
    tables = {
        row[0]
        for row in await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if tables and "urls" not in tables:
        raise StorageError(f"{path} is an SQLite database but not a crawl database")
    if read_only and not tables:
        raise StorageError(f"{path} is empty: not a crawl database")
    version = await _check_version(db, path, read_only=read_only) if tables else None
    if read_only:
        return version or str(SCHEMA_VERSION)
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.executescript(_SCHEMA)
    await db.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    await db.execute("UPDATE urls SET state = ? WHERE state = ?", (State.QUEUED, State.CLAIMED))
    await db.commit()
    return str(SCHEMA_VERSION)


async def _check_version(db: aiosqlite.Connection, path: Path, *, read_only: bool) -> str:
    """The file's version, once upgraded unless `read_only`."""
    rows = await db.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'")
    found = next(iter(rows), (None,))[0]
    if found in _UPGRADES and not read_only:
        await _upgrade(db, found)
        return str(SCHEMA_VERSION)
    if read_only and found in READ_ONLY_VERSIONS:
        return str(found)
    if found in _UPGRADES:
        raise StorageError(
            f"{path} has database schema version {found}; run a crawl on it once to upgrade it"
        )
    if found != str(SCHEMA_VERSION):
        raise StorageError(
            f"{path} has database schema version {found}, this crawler uses {SCHEMA_VERSION};"
            " use another --db"
        )
    return str(found)


async def _upgrade(db: aiosqlite.Connection, version: str) -> None:
    """All steps from `version` on, in one transaction: a failed upgrade changes nothing."""
    steps = []
    while version in _UPGRADES:
        steps.append(_UPGRADES[version])
        version = str(int(version) + 1)
    script = " ".join(steps)
    try:
        await db.executescript(
            f"BEGIN IMMEDIATE; {script}"
            f" UPDATE meta SET value = '{version}' WHERE key = 'schema_version'; COMMIT;"
        )
    except sqlite3.Error:
        if db.in_transaction:
            await db.rollback()
        raise


@final
class Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error; SQLite errors become `StorageError`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path, lock: asyncio.Lock) -> None:
        self._db = connection
        self._path = path
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            raise StorageError(f"cannot write database {self._path}: {exc}") from None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        try:
            if kind is None:
                await self._db.commit()
                return
            await self._db.rollback()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write database {self._path}: {exc}") from None
        finally:
            self._lock.release()
        if isinstance(error, sqlite3.Error):
            raise StorageError(f"cannot write database {self._path}: {error}") from None


async def connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
    target, uri = _connection_target(path, read_only=read_only)
    connection = aiosqlite.connect(target, uri=uri, isolation_level=None)
    try:
        return await connection
    except sqlite3.Error as exc:
        # aiosqlite stops its thread after a failed connect but does not wait for it: wait
        # here, or the thread may report to an event loop that has closed (a traceback).
        await asyncio.to_thread(connection._thread.join, 5)
        raise StorageError(f"cannot open database {path}: {exc}") from None


def _connection_target(path: Path, *, read_only: bool) -> tuple[str, bool]:
    """What to hand sqlite3: a read-only URI for an existing file, else the path itself."""
    if read_only:
        if not path.is_file():
            raise StorageError(f"database not found: {path}")
        return f"{path.resolve().as_uri()}?mode=ro", True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the directory of database {path}: {exc.strerror}"
        ) from None
    return str(path), False
