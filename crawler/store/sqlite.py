"""`SqliteStorage`: the frontier and the records in one SQLite file (aiosqlite, WAL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, final

import aiosqlite

from crawler.errors import StorageError
from crawler.models import (
    CrawlRequest,
    CrawlStats,
    ItemRecord,
    Outcome,
    PageRecord,
    RequestOptions,
)

SCHEMA_VERSION = 4

QUEUED, CLAIMED, DONE = 0, 1, 2

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
    handler      TEXT,
    UNIQUE (url, variant)
);
"""
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
    "3": _URLS_TABLE.format(name="urls_v4")
    + f"INSERT INTO urls_v4 ({_V3_COLUMNS}) SELECT {_V3_COLUMNS} FROM urls;"
    " DROP TABLE urls; ALTER TABLE urls_v4 RENAME TO urls;",
}

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
    + _URLS_TABLE.format(name="urls")
    + """
CREATE INDEX IF NOT EXISTS urls_queued ON urls (host, priority DESC, depth, id) WHERE state = 0;
CREATE TABLE IF NOT EXISTS bodies (
    id   INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id      INTEGER PRIMARY KEY,
    url     TEXT NOT NULL,
    handler TEXT NOT NULL,
    data    TEXT NOT NULL
);
"""
)
_COUNT = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)

_RECORD_COLUMNS = (
    "url, final_url, status, depth, parent, content_type, size, sha256, error, retries,"
    " fetched_at, elapsed_ms, redirects"
)
_INSERT = "INSERT OR IGNORE INTO urls (url, host, depth, parent) VALUES (?, ?, ?, ?)"
_INSERT_WITH_OPTIONS = (
    "INSERT OR IGNORE INTO urls (url, host, depth, parent, variant, priority, method, headers,"
    " request_body, meta, handler) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FINISH = (
    "UPDATE urls SET state = 2, final_url = ?, status = ?, content_type = ?, size = ?,"
    " sha256 = ?, error = ?, retries = ?, fetched_at = ?, elapsed_ms = ?, redirects = ?"
    " WHERE id = ?"
)
# A URL a redirect chain passed through: recorded unless it is already claimed or decided.
_RECORD_REDIRECTED = (
    "INSERT INTO urls (url, host, depth, parent, state, final_url, status, content_type, size,"
    " sha256, error, retries, fetched_at, elapsed_ms, redirects)"
    " VALUES (?, ?, ?, ?, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (url, variant) DO UPDATE SET state = 2, final_url = excluded.final_url,"
    " status = excluded.status, content_type = excluded.content_type, size = excluded.size,"
    " sha256 = excluded.sha256, error = excluded.error, fetched_at = excluded.fetched_at,"
    " elapsed_ms = excluded.elapsed_ms, redirects = excluded.redirects WHERE urls.state = 0"
)
# Hosts are walked round-robin by this many at most per claim, so one call stays cheap.
_HOSTS_PER_CLAIM = 512


@final
class SqliteStorage:
    """A crawl database. Open with `await SqliteStorage.open(path)`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._host_cursor = ""
        self._closed = False
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> SqliteStorage:
        """Open or create a crawl database; claims left by a killed run go back to the queue.

        Raises `StorageError` for a missing (read-only), foreign, newer or unwritable file.
        """
        connection = await _connect(path, read_only=read_only)
        storage = cls(connection, path)
        try:
            await storage._prepare(read_only=read_only)
        except sqlite3.Error as exc:
            await connection.close()
            raise StorageError(f"cannot use database {path}: {exc}") from None
        except StorageError:
            await connection.close()
            raise
        return storage

    async def _prepare(self, *, read_only: bool) -> None:
        tables = {
            row[0]
            for row in await self._db.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        if tables and "urls" not in tables:
            raise StorageError(f"{self._path} is an SQLite database but not a crawl database")
        if tables:
            await self._check_version(read_only=read_only)
        if read_only:
            return
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA synchronous = NORMAL")
        await self._db.executescript(_SCHEMA)
        await self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        await self._db.execute("UPDATE urls SET state = 0 WHERE state = 1")
        await self._db.commit()

    async def _check_version(self, *, read_only: bool) -> None:
        rows = await self._db.execute_fetchall(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        )
        found = next(iter(rows), (None,))[0]
        if found in _UPGRADES and not read_only:
            await self._upgrade(found)
            return
        if found in _UPGRADES:
            raise StorageError(
                f"{self._path} has database schema version {found}; run a crawl on it once to"
                " upgrade it"
            )
        if found != str(SCHEMA_VERSION):
            raise StorageError(
                f"{self._path} has database schema version {found}, this crawler uses"
                f" {SCHEMA_VERSION}; use another --db"
            )

    async def _upgrade(self, version: str) -> None:
        """All steps from `version` on, in one transaction: a failed upgrade changes nothing."""
        steps = []
        while version in _UPGRADES:
            steps.append(_UPGRADES[version])
            version = str(int(version) + 1)
        script = " ".join(steps)
        try:
            await self._db.executescript(
                f"BEGIN IMMEDIATE; {script}"
                f" UPDATE meta SET value = '{version}' WHERE key = 'schema_version'; COMMIT;"
            )
        except sqlite3.Error:
            if self._db.in_transaction:
                await self._db.rollback()
            raise

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        async with self._transaction():
            return await self._insert(requests)

    async def _insert(self, requests: Sequence[CrawlRequest]) -> int:
        if not requests:
            return 0
        plain = [(r.url, r.host, r.depth, r.parent) for r in requests if r.options is None]
        cursor = await self._db.executemany(_INSERT, plain)
        added = max(cursor.rowcount, 0)
        if len(plain) < len(requests):
            rows = [_options_row(r) for r in requests if r.options is not None]
            cursor = await self._db.executemany(_INSERT_WITH_OPTIONS, rows)
            added += max(cursor.rowcount, 0)
        return added

    async def claim_next(self, limit: int, room_for: Callable[[str], int]) -> list[CrawlRequest]:
        async with self._transaction():
            claimed = await self._select_round_robin(limit, room_for)
            if claimed:
                await self._db.executemany(
                    "UPDATE urls SET state = 1 WHERE id = ?", [(r.id,) for r in claimed]
                )
        return claimed

    async def _select_round_robin(
        self, limit: int, room_for: Callable[[str], int]
    ) -> list[CrawlRequest]:
        claimed: list[CrawlRequest] = []
        start = self._host_cursor
        cursor, wrapped = start, False
        for _ in range(_HOSTS_PER_CLAIM):
            if len(claimed) >= limit:
                break
            host = await self._next_queued_host(cursor)
            if host is None or (wrapped and host > start):
                if wrapped or not start:
                    break
                cursor, wrapped = "", True
                continue
            cursor = host
            room = min(room_for(host), limit - len(claimed))
            if room > 0:
                claimed.extend(await self._queued_of(host, room))
            if wrapped and host == start:
                break
        self._host_cursor = cursor
        return claimed

    async def _next_queued_host(self, after: str) -> str | None:
        rows = await self._fetchall(
            "SELECT host FROM urls WHERE state = 0 AND host > ? ORDER BY host LIMIT 1", (after,)
        )
        return next(iter(rows), (None,))[0]

    async def _queued_of(self, host: str, limit: int) -> list[CrawlRequest]:
        rows = await self._fetchall(
            "SELECT id, url, depth, parent, retries, variant, priority, method, headers,"
            " request_body, meta, handler FROM urls WHERE state = 0 AND host = ?"
            " AND (not_before IS NULL OR not_before <= ?)"
            " ORDER BY priority DESC, depth, id LIMIT ?",
            (host, time.time(), limit),
        )
        return [
            CrawlRequest(url, host, depth, parent, retries, row_id, _options_of(options))
            for row_id, url, depth, parent, retries, *options in rows
        ]

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        discovered = [request for outcome in outcomes for request in outcome.discovered]
        limits: Counter[str] = Counter()
        for outcome in outcomes:
            limits.update(outcome.limits_hit)
        async with self._transaction():
            await self._db.executemany(_FINISH, [_finish_row(outcome) for outcome in outcomes])
            redirected = [_redirected_row(*pair) for o in outcomes for pair in o.redirected]
            if redirected:
                await self._db.executemany(_RECORD_REDIRECTED, redirected)
            if limits:
                await self._db.executemany(_COUNT, list(limits.items()))
            items = [(i.url, i.handler, i.data) for o in outcomes for i in o.items]
            if items:
                await self._db.executemany(
                    "INSERT INTO items (url, handler, data) VALUES (?, ?, ?)", items
                )
            bodies = [(o.request.id, o.body) for o in outcomes if o.body is not None]
            if bodies:
                await self._db.executemany(
                    "INSERT OR REPLACE INTO bodies (id, body) VALUES (?, ?)", bodies
                )
            return await self._insert(discovered)

    async def defer(self, request: CrawlRequest, *, retries: int, not_before: float) -> None:
        async with self._transaction():
            await self._db.execute(
                "UPDATE urls SET state = 0, retries = ?, not_before = ? WHERE id = ?",
                (retries, not_before, request.id),
            )

    async def earliest_deferred(self) -> float | None:
        rows = await self._fetchall(
            "SELECT min(not_before) FROM urls WHERE state = 0 AND not_before IS NOT NULL"
        )
        value = next(iter(rows), (None,))[0]
        return None if value is None else float(value)

    async def release(self, requests: Sequence[CrawlRequest]) -> None:
        async with self._transaction():
            await self._db.executemany(
                "UPDATE urls SET state = 0 WHERE id = ? AND state = 1",
                [(r.id,) for r in requests],
            )

    async def count(self) -> tuple[int, int]:
        rows = await self._fetchall("SELECT state = 2, count(*) FROM urls GROUP BY state = 2")
        counts = {bool(done): total for done, total in rows}
        return counts.get(True, 0), counts.get(False, 0)

    async def body_of(self, url: str) -> bytes | None:
        """The stored body of a recorded URL, if the crawl kept it."""
        rows = await self._fetchall(
            "SELECT body FROM bodies JOIN urls USING (id) WHERE url = ? AND variant = ''",
            (url,),
        )
        return bytes(next(iter(rows))[0]) if rows else None

    async def is_recorded(self, url: str) -> bool:
        rows = await self._fetchall(
            "SELECT 1 FROM urls WHERE url = ? AND variant = '' AND state = 2", (url,)
        )
        return bool(rows)

    async def count_over_budget(self, budget: int) -> int:
        rows = await self._fetchall(
            "SELECT count(*) FROM urls WHERE state = 0 AND host IN"
            " (SELECT host FROM urls WHERE state = 2 GROUP BY host HAVING count(*) >= ?)",
            (budget,),
        )
        return int(next(iter(rows))[0])

    async def set_counter(self, name: str, value: int) -> None:
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    async def done_by_host(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT host, count(*) FROM urls WHERE state = 2 GROUP BY host")
        return {str(host): int(total) for host, total in rows}

    async def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        query = f"SELECT {_RECORD_COLUMNS} FROM urls WHERE state = 2 ORDER BY id"
        async for row in self._rows(query):
            yield PageRecord(*row)

    async def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        async for url, handler, data in self._rows(
            "SELECT url, handler, data FROM items ORDER BY id"
        ):
            yield ItemRecord(url, handler, data)

    async def _rows(self, query: str) -> AsyncGenerator[sqlite3.Row, None]:
        """The query's rows, streamed; a damaged file gives `StorageError`, not sqlite3's."""
        try:
            async with self._db.execute(query) as cursor:
                async for row in cursor:
                    yield row
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read database {self._path}: {exc}") from None

    async def _fetchall(self, query: str, parameters: Sequence[object] = ()) -> list[Any]:
        """All the query's rows; a damaged file gives `StorageError`, not sqlite3's."""
        try:
            return list(await self._db.execute_fetchall(query, parameters))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read database {self._path}: {exc}") from None

    async def stats(self) -> CrawlStats:
        done, queued = await self.count()
        return CrawlStats(
            done=done,
            queued=queued,
            by_status=await self._group("coalesce(status, 'none')"),
            by_error=await self._group("coalesce(error, 'none')"),
            by_host=await self._group("host"),
            first_fetched_at=await self._scalar("SELECT min(fetched_at) FROM urls WHERE state = 2"),
            last_fetched_at=await self._scalar("SELECT max(fetched_at) FROM urls WHERE state = 2"),
            items=int(await self._scalar("SELECT count(*) FROM items") or 0),
            **_split_counters(await self._counters()),
        )

    async def _counters(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT name, value FROM counters ORDER BY name")
        return {str(name): int(value) for name, value in rows}

    async def _group(self, expression: str) -> dict[str, int]:
        rows = await self._fetchall(
            f"SELECT {expression} AS key, count(*) AS n FROM urls WHERE state = 2"
            " GROUP BY key ORDER BY n DESC, key"
        )
        return {str(key): total for key, total in rows}

    async def _scalar(self, query: str) -> str | None:
        rows = await self._fetchall(query)
        value = next(iter(rows), (None,))[0]
        return None if value is None else str(value)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._path, self._lock)


@final
class _Transaction:
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


PROXY_COUNTER = "proxy "  # counters named "proxy <url> <figure>" are per-proxy figures


def _split_counters(counters: dict[str, int]) -> dict[str, Any]:
    limits: dict[str, int] = {}
    proxies: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        if name.startswith(PROXY_COUNTER):
            proxy, _, figure = name[len(PROXY_COUNTER) :].rpartition(" ")
            proxies.setdefault(proxy, {})[figure] = value
        else:
            limits[name] = value
    return {"limits_hit": limits, "proxies": proxies}


def _options_row(request: CrawlRequest) -> tuple[object, ...]:
    options = request.options or RequestOptions()
    return (
        request.url,
        request.host,
        request.depth,
        request.parent,
        options.variant,
        options.priority,
        None if options.method == "GET" else options.method,
        json.dumps(options.headers) if options.headers else None,
        options.body,
        options.meta,
        options.handler,
    )


def _options_of(columns: list[Any]) -> RequestOptions | None:
    """The options stored in the columns `variant` to `handler`; None for a plain GET."""
    variant, priority, method, headers, body, meta, handler = columns
    if not variant and not priority and (method, headers, body, meta, handler) == (None,) * 5:
        return None
    return RequestOptions(
        method=method or "GET",
        headers=tuple((str(k), str(v)) for k, v in json.loads(headers)) if headers else (),
        body=None if body is None else bytes(body),
        meta=meta,
        priority=priority,
        handler=handler,
        variant=variant,
    )


def _redirected_row(request: CrawlRequest, record: PageRecord) -> tuple[object, ...]:
    return (request.url, request.host, request.depth, request.parent, *_result_columns(record))


def _finish_row(outcome: Outcome) -> tuple[object, ...]:
    return (*_result_columns(outcome.record), outcome.request.id)


def _result_columns(record: PageRecord) -> tuple[object, ...]:
    """A record's fetch results, in the column order of `_FINISH` and `_RECORD_REDIRECTED`."""
    return (
        record.final_url,
        record.status,
        record.content_type,
        record.size,
        record.sha256,
        record.error,
        record.retries,
        record.fetched_at,
        record.elapsed_ms,
        record.redirects,
    )


async def _connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
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
