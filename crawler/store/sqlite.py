"""`SqliteStorage`: the frontier and the records in one SQLite file (aiosqlite, WAL).

It knows neither HTTP nor HTML; only `crawler.store` chooses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, final

import aiosqlite

from crawler.errors import StorageError
from crawler.models import (
    BrokenLink,
    Claim,
    CrawlRequest,
    CrawlStats,
    HttpCapture,
    ItemRecord,
    Outcome,
    PageRecord,
    ProxyFigures,
    RunEnd,
    Totals,
)
from crawler.store.referrers import (
    BROKEN,
    LINKING_PAGES,
    RECORDS_BY_DEPTH,
    RECORDS_BY_SECOND,
    LinkRows,
    assemble_broken_links,
)
from crawler.store.rows import (
    CAPTURE_COLUMNS,
    OLD_CAPTURE_COLUMNS,
    PROXY_FIGURES,
    RECORD_COLUMNS,
    capture_from,
    capture_row,
    finish_row,
    options_of,
    options_row,
    proxy_figures,
    redirected_row,
)
from crawler.store.sqlite_file import (
    PROXIES_QUERY,
    V4_PROXIES_QUERY,
    State,
    Transaction,
    connect,
    prepare,
)

QUEUED, CLAIMED, DONE = State.QUEUED, State.CLAIMED, State.DONE

_COUNT = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
_SET_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
_KEEP_CAPTURE = f"INSERT OR REPLACE INTO bodies (id, {CAPTURE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_INSERT = "INSERT OR IGNORE INTO urls (url, host, depth, parent) VALUES (?, ?, ?, ?)"
_INSERT_WITH_OPTIONS = (
    "INSERT OR IGNORE INTO urls (url, host, depth, parent, variant, priority, method, headers,"
    " request_body, meta, handler) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_KEEP_LINKS = "INSERT OR REPLACE INTO links (id, targets) VALUES (?, ?)"
_QUEUED_OF_HOST = (
    "SELECT id, url, depth, parent, retries, variant, priority, method, headers,"
    f" request_body, meta, handler FROM urls WHERE state = {QUEUED:d} AND host = ?"
    " AND (not_before IS NULL OR not_before <= ?)"
    " ORDER BY priority DESC, depth, id LIMIT ?"
)
_FINISH = (
    f"UPDATE urls SET state = {DONE:d}, final_url = ?, status = ?, content_type = ?, size = ?,"
    " sha256 = ?, error = ?, retries = ?, fetched_at = ?, elapsed_ms = ?, redirects = ?"
    " WHERE id = ?"
)
# A URL a redirect chain passed through: recorded unless it is already claimed or decided.
_RECORD_REDIRECTED = (
    "INSERT INTO urls (url, host, depth, parent, state, final_url, status, content_type, size,"
    f" sha256, error, retries, fetched_at, elapsed_ms, redirects)"
    f" VALUES (?, ?, ?, ?, {DONE:d}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    f" ON CONFLICT (url, variant) DO UPDATE SET state = {DONE:d}, final_url = excluded.final_url,"
    " status = excluded.status, content_type = excluded.content_type, size = excluded.size,"
    " sha256 = excluded.sha256, error = excluded.error, fetched_at = excluded.fetched_at,"
    f" elapsed_ms = excluded.elapsed_ms, redirects = excluded.redirects"
    f" WHERE urls.state = {QUEUED:d}"
)
_SAVE_PROXY = (
    f"INSERT OR REPLACE INTO proxies (proxy, {', '.join(PROXY_FIGURES)}) VALUES (?, ?, ?, ?, ?, ?)"
)
# Hosts are walked round-robin by this many at most per claim, so one call stays cheap.
_HOSTS_PER_CLAIM = 512


@final
class SqliteStorage:
    """A crawl database in one file. Open with `await SqliteStorage.open(path)`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path, version: str) -> None:
        self._db = connection
        self._path = path
        # A version-4 file opened read-only is read as it is: its proxies are counters there.
        self._proxies_query = V4_PROXIES_QUERY if version == "4" else PROXIES_QUERY
        self._capture_columns = OLD_CAPTURE_COLUMNS if version in ("4", "5") else CAPTURE_COLUMNS
        self._has_links = version not in ("4", "5", "6")
        self._link_rows = LinkRows()
        self._host_cursor = ""
        self._closed = False
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> SqliteStorage:
        """Open or create a crawl database; claims left by a killed run go back to the queue.

        Raises `StorageError` for a missing (read-only), foreign, newer or unwritable file.
        """
        connection = await connect(path, read_only=read_only)
        try:
            version = await prepare(connection, path, read_only=read_only)
        except sqlite3.Error as exc:
            await connection.close()
            raise StorageError(f"cannot use database {path}: {exc}") from None
        except StorageError:
            await connection.close()
            raise
        return cls(connection, path, version)

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
            rows = [options_row(r) for r in requests if r.options is not None]
            cursor = await self._db.executemany(_INSERT_WITH_OPTIONS, rows)
            added += max(cursor.rowcount, 0)
        return added

    async def claim_next(self, limit: int, room_for: Callable[[str], int]) -> Claim:
        async with self._transaction():
            claimed = await self._select_round_robin(limit, room_for)
            if claimed:
                await self._db.executemany(
                    f"UPDATE urls SET state = {CLAIMED:d} WHERE id = ?",
                    [(r.id,) for r in claimed],
                )
            next_due = await self._earliest_not_before() if len(claimed) < limit else None
        return Claim(tuple(claimed), next_due)

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
            f"SELECT host FROM urls WHERE state = {QUEUED:d} AND host > ? ORDER BY host LIMIT 1",
            (after,),
        )
        return next(iter(rows), (None,))[0]

    async def _queued_of(self, host: str, limit: int) -> list[CrawlRequest]:
        rows = await self._fetchall(_QUEUED_OF_HOST, (host, time.time(), limit))
        return [
            CrawlRequest(url, host, depth, parent, retries, row_id, options_of(options))
            for row_id, url, depth, parent, retries, *options in rows
        ]

    async def _earliest_not_before(self) -> float | None:
        value = await self._scalar(
            f"SELECT min(not_before) FROM urls WHERE state = {QUEUED:d} AND not_before IS NOT NULL"
        )
        return None if value is None else float(value)

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        discovered = [request for outcome in outcomes for request in outcome.discovered]
        limits: Counter[str] = Counter()
        for outcome in outcomes:
            limits.update(outcome.limits_hit)
        async with self._transaction():
            await self._db.executemany(_FINISH, [finish_row(outcome) for outcome in outcomes])
            redirected = [redirected_row(*pair) for o in outcomes for pair in o.redirected]
            if redirected:
                await self._db.executemany(_RECORD_REDIRECTED, redirected)
            if limits:
                await self._db.executemany(_COUNT, list(limits.items()))
            items = [(i.url, i.handler, i.data) for o in outcomes for i in o.items]
            if items:
                await self._db.executemany(
                    "INSERT INTO items (url, handler, data) VALUES (?, ?, ?)", items
                )
            captured = [row for row in map(capture_row, outcomes) if row is not None]
            if captured:
                await self._db.executemany(_KEEP_CAPTURE, captured)
            links = self._link_rows.rows(outcomes)
            if links:
                await self._db.executemany(_KEEP_LINKS, links)
            return await self._insert(discovered)

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        async with self._transaction():
            await self._db.executemany(
                f"UPDATE urls SET state = {QUEUED:d}, retries = ?, not_before = ?"
                f" WHERE id = ? AND state = {CLAIMED:d}",
                [(r.retries, not_before, r.id) for r in requests],
            )

    async def is_recorded(self, url: str) -> bool:
        rows = await self._fetchall(
            f"SELECT 1 FROM urls WHERE url = ? AND variant = '' AND state = {DONE:d}", (url,)
        )
        return bool(rows)

    async def totals(self, *, by_host: bool = False) -> Totals:
        rows = await self._fetchall(
            f"SELECT state = {DONE:d}, count(*) FROM urls GROUP BY state = {DONE:d}"
        )
        counts = {bool(done): total for done, total in rows}
        return Totals(
            counts.get(True, 0),
            counts.get(False, 0),
            await self._group("host") if by_host else {},
        )

    async def save_run(self, end: RunEnd) -> None:
        if end.host_budget is None and not end.proxies:
            return
        left = None
        if end.host_budget is not None:
            rows = await self._fetchall(
                f"SELECT count(*) FROM urls WHERE state = {QUEUED:d} AND host IN"
                f" (SELECT host FROM urls WHERE state = {DONE:d} GROUP BY host"
                " HAVING count(*) >= ?)",
                (end.host_budget,),
            )
            left = int(rows[0][0])
        async with self._transaction():
            if left is not None:
                await self._db.execute(_SET_COUNTER, ("max_pages_per_host", left))
            rows_of_proxies = [
                (proxy, *(int(value) for value in figures.as_dict().values()))
                for proxy, figures in end.proxies.items()
            ]
            await self._db.executemany(_SAVE_PROXY, rows_of_proxies)

    async def body_of(self, url: str) -> bytes | None:
        """The stored body of a recorded URL, if the crawl kept it."""
        rows = await self._fetchall(
            f"SELECT {self._capture_columns} FROM bodies JOIN urls USING (id)"
            " WHERE url = ? AND variant = ''",
            (url,),
        )
        return capture_from(*rows[0]).body if rows else None

    async def iter_captures(self) -> AsyncGenerator[tuple[PageRecord, HttpCapture], None]:
        query = (
            f"SELECT {RECORD_COLUMNS}, {self._capture_columns} FROM urls JOIN bodies USING (id)"
            f" WHERE state = {DONE:d} ORDER BY id"
        )
        width = RECORD_COLUMNS.count(",") + 1
        async with contextlib.aclosing(self._rows(query)) as rows:
            async for row in rows:
                yield PageRecord(*row[:width]), capture_from(*row[width:])

    async def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        query = f"SELECT {RECORD_COLUMNS} FROM urls WHERE state = {DONE:d} ORDER BY id"
        async with contextlib.aclosing(self._rows(query)) as rows:
            async for row in rows:
                yield PageRecord(*row)

    async def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        query = "SELECT url, handler, data FROM items ORDER BY id"
        async with contextlib.aclosing(self._rows(query)) as rows:
            async for url, handler, data in rows:
                yield ItemRecord(url, handler, data)

    async def stats(self) -> CrawlStats:
        totals = await self.totals()
        return CrawlStats(
            done=totals.done,
            queued=totals.queued,
            by_status=await self._group("coalesce(status, 'none')"),
            by_error=await self._group("coalesce(error, 'none')"),
            by_host=await self._group("host"),
            first_fetched_at=await self._scalar(
                f"SELECT min(fetched_at) FROM urls WHERE state = {DONE:d}"
            ),
            last_fetched_at=await self._scalar(
                f"SELECT max(fetched_at) FROM urls WHERE state = {DONE:d}"
            ),
            limits_hit=await self._counters(),
            items=int(await self._scalar("SELECT count(*) FROM items") or 0),
            proxies=await self._proxies(),
        )

    async def broken_links(self, *, referrers_per_link: int) -> list[BrokenLink]:
        pages = self._rows(LINKING_PAGES) if self._has_links else None
        return await assemble_broken_links(
            await self._fetchall(BROKEN), pages, referrers_per_link=referrers_per_link
        )

    async def records_by_second(self) -> dict[str, int]:
        return {str(second): n for second, n in sorted(await self._fetchall(RECORDS_BY_SECOND))}

    async def records_by_depth(self) -> dict[int, int]:
        return {int(depth): n for depth, n in await self._fetchall(RECORDS_BY_DEPTH)}

    async def _counters(self) -> dict[str, int]:
        rows = await self._fetchall(
            "SELECT name, value FROM counters WHERE name NOT LIKE 'proxy %' ORDER BY name"
        )
        return {str(name): int(value) for name, value in rows}

    async def _proxies(self) -> dict[str, ProxyFigures]:
        rows = await self._fetchall(self._proxies_query)
        return {str(proxy): proxy_figures(figures) for proxy, *figures in rows}

    async def _group(self, expression: str) -> dict[str, int]:
        rows = await self._fetchall(
            f"SELECT {expression} AS key, count(*) AS n FROM urls WHERE state = {DONE:d}"
            " GROUP BY key ORDER BY n DESC, key"
        )
        return {str(key): total for key, total in rows}

    async def _scalar(self, query: str) -> str | None:
        rows = await self._fetchall(query)
        value = next(iter(rows), (None,))[0]
        return None if value is None else str(value)

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

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.close()

    def _transaction(self) -> Transaction:
        return Transaction(self._db, self._path, self._lock)
