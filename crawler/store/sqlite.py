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
    Fetch,
    HttpCapture,
    ItemRecord,
    Outcome,
    PageRecord,
    ProxyFigures,
    RunEnd,
    Totals,
)
from crawler.store import sqlite_queries as sql
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
    HAS_RECORD,
    HISTORY_SINCE,
    OLD_CAPTURE_COLUMNS,
    RECORD_COLUMNS,
    capture_from,
    capture_row,
    finish_row,
    history_row,
    item_rows,
    kept_row,
    last_validators,
    options_of,
    options_row,
    proxy_figures,
    redirected_row,
    refetched_ids,
)
from crawler.store.sqlite_file import PROXIES_QUERY, V4_PROXIES_QUERY, Transaction, connect, prepare

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
        self._has_history = version not in ("4", "5", "6", "7")
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
        cursor = await self._db.executemany(sql.INSERT, plain)
        added = max(cursor.rowcount, 0)
        if len(plain) < len(requests):
            rows = [options_row(r) for r in requests if r.options is not None]
            cursor = await self._db.executemany(sql.INSERT_WITH_OPTIONS, rows)
            added += max(cursor.rowcount, 0)
        return added

    async def claim_next(
        self, limit: int, room_for: Callable[[str], int], *, recorded_only: bool = False
    ) -> Claim:
        async with self._transaction():
            claimed = await self._select_round_robin(limit, room_for, recorded_only)
            if claimed:
                await self._db.executemany(sql.CLAIM, [(r.id,) for r in claimed])
            next_due = await self._earliest_not_before() if len(claimed) < limit else None
        return Claim(tuple(claimed), next_due)

    async def _select_round_robin(
        self, limit: int, room_for: Callable[[str], int], recorded_only: bool
    ) -> list[CrawlRequest]:
        next_host = sql.NEXT_REQUEUED_HOST if recorded_only else sql.NEXT_QUEUED_HOST
        ready = sql.REQUEUED_OF_HOST if recorded_only else sql.QUEUED_OF_HOST
        claimed: list[CrawlRequest] = []
        start = self._host_cursor
        cursor, wrapped = start, False
        for _ in range(_HOSTS_PER_CLAIM):
            if len(claimed) >= limit:
                break
            host = next(iter(await self._fetchall(next_host, (cursor,))), (None,))[0]
            if host is None or (wrapped and host > start):
                if wrapped or not start:
                    break
                cursor, wrapped = "", True
                continue
            cursor = host
            room = min(room_for(host), limit - len(claimed))
            if room > 0:
                claimed.extend(await self._ready_of(ready, host, room))
            if wrapped and host == start:
                break
        self._host_cursor = cursor
        return claimed

    async def _ready_of(self, query: str, host: str, limit: int) -> list[CrawlRequest]:
        rows = await self._fetchall(query, (host, time.time(), limit))
        return [
            CrawlRequest(
                url,
                host,
                depth,
                parent,
                retries,
                row_id,
                options_of(options),
                last_validators(etag, last_modified, recorded),
            )
            for row_id, url, depth, parent, retries, etag, last_modified, recorded, *options in rows
        ]

    async def _earliest_not_before(self) -> float | None:
        value = await self._scalar(sql.EARLIEST_NOT_BEFORE)
        return None if value is None else float(value)

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        discovered = [request for outcome in outcomes for request in outcome.discovered]
        limits: Counter[str] = Counter()
        for outcome in outcomes:
            limits.update(outcome.limits_hit)
        recorded = [outcome for outcome in outcomes if outcome.kept is None]
        kept = [outcome for outcome in outcomes if outcome.kept is not None]
        execute = self._db.executemany
        async with self._transaction():
            await execute(sql.ADD_HISTORY, [history_row(outcome) for outcome in outcomes])
            await execute(sql.FINISH, [finish_row(outcome) for outcome in recorded])
            if kept:
                await execute(sql.KEEP_RECORD, [kept_row(outcome) for outcome in kept])
            refetched = refetched_ids(outcomes)
            for forget in sql.FORGET_REPLACED if refetched else ():
                await execute(forget, refetched)
            hops = [pair for outcome in outcomes for pair in outcome.redirected]
            if hops:
                await execute(sql.RECORD_REDIRECTED, [redirected_row(*hop) for hop in hops])
                await execute(sql.REDIRECTED_HISTORY, [(r.url, h.fetched_at) for r, h in hops])
            if limits:
                await execute(sql.COUNT, list(limits.items()))
            items = item_rows(outcomes)
            if items:
                await execute(sql.ADD_ITEM, items)
            captured = [row for row in map(capture_row, outcomes) if row is not None]
            if captured:
                await execute(sql.KEEP_CAPTURE, captured)
            links = self._link_rows.rows(outcomes)
            if links:
                await execute(sql.KEEP_LINKS, links)
            return await self._insert(discovered)

    async def requeue_recorded(self, fetched_before: str) -> int:
        async with self._transaction():
            cursor = await self._db.execute(sql.REQUEUE_RECORDED, (fetched_before,))
            return max(cursor.rowcount, 0)

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        async with self._transaction():
            await self._db.executemany(
                sql.RELEASE, [(r.retries, not_before, r.id) for r in requests]
            )

    async def is_recorded(self, url: str) -> bool:
        return bool(await self._fetchall(sql.IS_RECORDED, (url,)))

    async def totals(self, *, by_host: bool = False) -> Totals:
        done, queued, recorded = (await self._fetchall(sql.TOTALS))[0]
        hosts = await self._group("host", sql.THIS_ROUND) if by_host else {}
        return Totals(done, queued, hosts, recorded)

    async def save_run(self, end: RunEnd) -> None:
        if end.host_budget is None and not end.proxies:
            return
        left = None
        if end.host_budget is not None:
            rows = await self._fetchall(sql.OVER_HOST_BUDGET, (end.host_budget,))
            left = int(rows[0][0])
        async with self._transaction():
            if left is not None:
                await self._db.execute(sql.SET_COUNTER, ("max_pages_per_host", left))
            rows_of_proxies = [
                (proxy, *(int(value) for value in figures.as_dict().values()))
                for proxy, figures in end.proxies.items()
            ]
            await self._db.executemany(sql.SAVE_PROXY, rows_of_proxies)

    async def body_of(self, url: str) -> bytes | None:
        """The stored body of a recorded URL, if the crawl kept it."""
        query = sql.BODY_OF.format(capture_columns=self._capture_columns)
        rows = await self._fetchall(query, (url,))
        return capture_from(*rows[0]).body if rows else None

    async def iter_captures(self) -> AsyncGenerator[tuple[PageRecord, HttpCapture], None]:
        query = sql.CAPTURES.format(capture_columns=self._capture_columns)
        width = RECORD_COLUMNS.count(",") + 1
        async with contextlib.aclosing(self._rows(query)) as rows:
            async for row in rows:
                yield PageRecord(*row[:width]), capture_from(*row[width:])

    async def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        async with contextlib.aclosing(self._rows(sql.RECORDS)) as rows:
            async for row in rows:
                yield PageRecord(*row)

    async def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        async with contextlib.aclosing(self._rows(sql.ITEMS)) as rows:
            async for url, handler, data in rows:
                yield ItemRecord(url, handler, data)

    async def iter_history(self, since: str) -> AsyncGenerator[Fetch, None]:
        if not self._has_history:
            raise StorageError(
                f"{self._path} was made before history was kept: run a crawl on it once"
            )
        query = HISTORY_SINCE.format(since="?")
        async with contextlib.aclosing(self._rows(query, (since,))) as rows:
            async for url, fetched_at, status, sha256, error, kept in rows:
                yield Fetch(url, fetched_at, status, sha256, error, bool(kept))

    async def stats(self) -> CrawlStats:
        first, last = (await self._fetchall(sql.FETCHED_BETWEEN))[0]
        totals = await self.totals()
        return CrawlStats(
            done=totals.recorded,
            queued=totals.queued,
            by_status=await self._group("coalesce(status, 'none')"),
            by_error=await self._group("coalesce(error, 'none')"),
            by_host=await self._group("host"),
            first_fetched_at=first,
            last_fetched_at=last,
            limits_hit=await self._counters(),
            items=int(await self._scalar(sql.COUNT_ITEMS) or 0),
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
        rows = await self._fetchall(sql.COUNTERS)
        return {str(name): int(value) for name, value in rows}

    async def _proxies(self) -> dict[str, ProxyFigures]:
        rows = await self._fetchall(self._proxies_query)
        return {str(proxy): proxy_figures(figures) for proxy, *figures in rows}

    async def _group(self, expression: str, which: str = HAS_RECORD) -> dict[str, int]:
        rows = await self._fetchall(sql.GROUPED.format(expression=expression, which=which))
        return {str(key): total for key, total in rows}

    async def _scalar(self, query: str) -> str | None:
        rows = await self._fetchall(query)
        value = next(iter(rows), (None,))[0]
        return None if value is None else str(value)

    async def _rows(
        self, query: str, parameters: Sequence[object] = ()
    ) -> AsyncGenerator[sqlite3.Row, None]:
        """The query's rows, streamed; a damaged file gives `StorageError`, not sqlite3's."""
        try:
            async with self._db.execute(query, parameters) as cursor:
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
