"""`PostgresStorage`: one crawl shared by many processes through a PostgreSQL server (asyncpg).

Work is leased by host (`crawler.store.postgres_leases`): only the holder of a host fetches
from it, so per-host concurrency and delays hold across every process. A process that dies
stops renewing its leases; once they run out the others take its hosts, and its claimed but
unrecorded URLs go back to the queue. Nothing here knows HTTP or HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar, final

import asyncpg

from crawler.config import DEFAULTS
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
    RunEnd,
    Totals,
)
from crawler.store import postgres_queries as sql
from crawler.store.postgres_leases import HostLeases
from crawler.store.postgres_schema import Connection, prepare
from crawler.store.referrers import (
    BROKEN,
    LINKING_PAGES,
    RECORDS_BY_DEPTH,
    RECORDS_BY_SECOND,
    LinkRows,
    assemble_broken_links,
)
from crawler.store.rows import (
    HAS_RECORD,
    HISTORY_SINCE,
    RECORD_COLUMNS,
    capture_from,
    capture_row,
    finish_row,
    history_row,
    item_rows,
    kept_row,
    options_row,
    proxy_figures,
    redirected_row,
    refetched_ids,
)
from crawler.urls import mask_credentials

log = logging.getLogger("crawler")

T = TypeVar("T")
DEFAULT_MAX_HOSTS = 64
RECHECK_S = 1.0  # waiting on other processes, a process with nothing to do looks again this often
WRITE_ATTEMPTS = 4  # a deadlock or serialization failure is rolled back and tried again
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
RETRIED_ERRORS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


@final
class PostgresStorage:
    """A crawl database on a PostgreSQL server. Open with `await PostgresStorage.open(dsn)`."""

    def __init__(self, pool: asyncpg.Pool, shown: str, leases: HostLeases) -> None:
        self._pool = pool
        self._shown = shown  # the DSN without its password, for messages
        self._leases = leases
        self._link_rows = LinkRows()
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        read_only: bool = False,
        lease_s: float = DEFAULTS.lease_timeout,
        max_hosts: int = DEFAULT_MAX_HOSTS,
        host_budget: int | None = None,
    ) -> PostgresStorage:
        """Connect, and unless `read_only` create the tables if they are missing. A host leased
        here stays this process's `lease_s` seconds unrenewed (it is renewed every third of
        that); the process holds `max_hosts` hosts at most, leaving the rest to the others, and
        claims no more of a host than `host_budget` records allow.

        Raises `StorageError` (the password left out) if the server cannot be reached or
        the database holds no crawl of this version."""
        shown = mask_credentials(dsn)
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, command_timeout=120)
        except DATABASE_ERRORS as exc:
            raise StorageError(f"cannot open database {shown}: {_message(exc, dsn)}") from None
        except (ValueError, TypeError, OverflowError):  # its message may quote the password
            raise StorageError(f"cannot open database {shown}: not a valid URL") from None
        try:
            async with pool.acquire() as connection:
                await prepare(connection, shown, read_only=read_only)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, DATABASE_ERRORS):
                raise StorageError(f"cannot use database {shown}: {_message(exc, dsn)}") from None
            raise
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        leases = HostLeases(worker, lease_s=lease_s, max_hosts=max_hosts, host_budget=host_budget)
        storage = cls(pool, shown, leases)
        if not read_only:
            storage._renewer = asyncio.create_task(storage._renew(lease_s), name="lease-renewer")
        return storage

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        if not requests:
            return 0
        return await self._write(lambda connection: _insert(connection, requests))

    async def claim_next(
        self, limit: int, room_for: Callable[[str], int], *, recorded_only: bool = False
    ) -> Claim:
        now = time.time()

        async def claim(connection: Connection) -> Claim:
            claimed = await self._leases.claim(
                connection, limit, room_for, now, recorded_only=recorded_only
            )
            if len(claimed) >= limit:
                return Claim(tuple(claimed))
            if self._leases.at_cap:  # other hosts may have work: look again soon
                return Claim(tuple(claimed), now + RECHECK_S)
            next_due = await connection.fetchval(sql.NEXT_DUE, now, self._leases.worker)
            # Waiting for other processes' leases (or retries) to run out, look again every
            # RECHECK_S: a process that finishes its hosts gives them back long before that.
            return Claim(
                tuple(claimed), None if next_due is None else min(next_due, now + RECHECK_S)
            )

        return await self._write(claim)

    async def _renew(self, lease_s: float) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                await self._leases.renew(self._pool)
            except Exception as exc:  # a task boundary: a missed renewal is tried again
                log.warning("renewing host leases failed: %s", exc)

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        discovered = [request for outcome in outcomes for request in outcome.discovered]
        limits: dict[str, int] = {}
        for outcome in outcomes:
            for name, count in outcome.limits_hit.items():
                limits[name] = limits.get(name, 0) + count
        worker = self._leases.worker

        async def record(connection: Connection) -> int:
            await _record(connection, outcomes, worker, self._link_rows)
            if limits:
                await connection.executemany(sql.COUNT, sorted(limits.items()))
            return await _insert(connection, discovered) if discovered else 0

        return await self._write(record)

    async def requeue_recorded(self, fetched_before: str) -> int:
        async def requeue(connection: Connection) -> int:
            status = await connection.execute(sql.REQUEUE_RECORDED, fetched_before)
            return int(status.split()[-1])

        return await self._write(requeue)

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        if not requests:
            return
        rows = [(r.retries, not_before, r.id, self._leases.worker) for r in requests]
        await self._write(lambda connection: connection.executemany(sql.RELEASE, rows))

    async def is_recorded(self, url: str) -> bool:
        async with self._connection() as connection:
            return bool(await connection.fetchval(sql.IS_RECORDED, url))

    async def totals(self, *, by_host: bool = False) -> Totals:
        async with self._connection() as connection:
            done, queued, recorded = await _row(connection, sql.TOTALS)
            hosts = await _grouped(connection, "host", sql.THIS_ROUND) if by_host else {}
        return Totals(done, queued, hosts, recorded)

    async def save_run(self, end: RunEnd) -> None:
        if end.host_budget is None and not end.proxies:
            return

        async def save(connection: Connection) -> None:
            if end.host_budget is not None:
                left = await connection.fetchval(sql.OVER_HOST_BUDGET, end.host_budget)
                await connection.execute(sql.SET_COUNTER, "max_pages_per_host", left)
            rows = sorted(
                (proxy, *figures.as_dict().values()) for proxy, figures in end.proxies.items()
            )
            if rows:
                await connection.executemany(sql.SAVE_PROXY, rows)

        await self._write(save)

    async def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        async with contextlib.aclosing(self._rows(sql.RECORDS)) as rows:
            async for row in rows:
                yield PageRecord(*row)

    async def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        async with contextlib.aclosing(self._rows(sql.ITEMS)) as rows:
            async for url, handler, data in rows:
                yield ItemRecord(url, handler, data)

    async def iter_history(self, since: str) -> AsyncGenerator[Fetch, None]:
        query = HISTORY_SINCE.format(since="$1")
        async with contextlib.aclosing(self._rows(query, since)) as rows:
            async for url, fetched_at, status, sha256, error, kept in rows:
                yield Fetch(url, fetched_at, status, sha256, error, bool(kept))

    async def iter_captures(self) -> AsyncGenerator[tuple[PageRecord, HttpCapture], None]:
        width = RECORD_COLUMNS.count(",") + 1
        async with contextlib.aclosing(self._rows(sql.CAPTURES)) as rows:
            async for row in rows:
                yield PageRecord(*row[:width]), capture_from(*row[width:])

    async def stats(self) -> CrawlStats:
        async with self._connection() as connection:
            _, queued, done = await _row(connection, sql.TOTALS)
            first, last = await _row(connection, sql.FETCHED_BETWEEN)
            counters = await connection.fetch(sql.COUNTERS)
            proxies = await connection.fetch(sql.PROXIES)
            return CrawlStats(
                done=done,
                queued=queued,
                by_status=await _grouped(connection, "coalesce(status::text, 'none')"),
                by_error=await _grouped(connection, "coalesce(error, 'none')"),
                by_host=await _grouped(connection, "host"),
                first_fetched_at=first,
                last_fetched_at=last,
                limits_hit={row["name"]: row["value"] for row in counters},
                items=await connection.fetchval(sql.COUNT_ITEMS),
                proxies={row[0]: proxy_figures(list(row)[1:]) for row in proxies},
            )

    async def broken_links(self, *, referrers_per_link: int) -> list[BrokenLink]:
        async with self._connection() as connection:
            broken = [tuple(row) for row in await connection.fetch(BROKEN)]
        pages = (tuple(row) async for row in self._rows(LINKING_PAGES))
        return await assemble_broken_links(broken, pages, referrers_per_link=referrers_per_link)

    async def records_by_second(self) -> dict[str, int]:
        async with self._connection() as connection:
            rows = await connection.fetch(RECORDS_BY_SECOND)
        return dict(sorted((row[0], row[1]) for row in rows))

    async def records_by_depth(self) -> dict[int, int]:
        async with self._connection() as connection:
            return {depth: n for depth, n in await connection.fetch(RECORDS_BY_DEPTH)}

    async def close(self) -> None:
        """Give back this process's claims and hosts, and disconnect; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            with contextlib.suppress(*DATABASE_ERRORS):
                async with self._pool.acquire() as connection, connection.transaction():
                    await connection.execute(sql.RELEASE_ALL_CLAIMS, self._leases.worker)
                    await connection.execute(sql.GIVE_BACK_ALL, self._leases.worker)
        await self._pool.close()

    async def abandon(self) -> None:
        """Disconnect as a killed process would: nothing given back (for tests)."""
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        self._pool.terminate()

    async def _rows(self, query: str, *arguments: object) -> AsyncGenerator[asyncpg.Record, None]:
        async with self._connection() as connection, connection.transaction():
            async for row in connection.cursor(query, *arguments, prefetch=1000):
                yield row

    async def _write(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """`work` in one transaction, tried again after a deadlock or a serialization failure
        (both roll everything back); other database errors become `StorageError`."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self._connection() as connection, connection.transaction():
                    return await work(connection)
            except _Retry:
                await asyncio.sleep(0.05 * 2**attempt)
        raise StorageError(
            f"cannot write database {self._shown}: deadlocked {WRITE_ATTEMPTS} times"
        )

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire() as connection:
                yield connection
        except RETRIED_ERRORS:
            raise _Retry from None
        except DATABASE_ERRORS as exc:
            raise StorageError(f"cannot use database {self._shown}: {exc}") from None


class _Retry(Exception):
    """A transaction rolled back by the server to break a deadlock: try it again."""


async def _insert(connection: Connection, requests: Sequence[CrawlRequest]) -> int:
    """Queue the requests not in the table yet, and their hosts; returns how many were new."""
    unique: dict[tuple[str, str], CrawlRequest] = {}
    for request in requests:  # the first of a URL's duplicates wins, as on SQLite
        variant = request.options.variant if request.options else ""
        unique.setdefault((request.url, variant), request)
    columns = list(zip(*(options_row(request) for request in unique.values()), strict=True))
    return int(await connection.fetchval(sql.INSERT_REQUESTS, *columns))


async def _record(
    connection: Connection, outcomes: Sequence[Outcome], worker: str, link_rows: LinkRows
) -> None:
    """Store the outcomes claimed by `worker`: records (or kept ones), history, redirect hops,
    items, bodies and links; what a refetch replaces goes first."""
    execute = connection.executemany
    await execute(sql.ADD_HISTORY, [(*history_row(o), worker) for o in outcomes])
    await execute(sql.FINISH, [(*finish_row(o), worker) for o in outcomes if o.kept is None])
    kept = [(*kept_row(o), worker) for o in outcomes if o.kept is not None]
    if kept:
        await execute(sql.KEEP_RECORD, kept)
    refetched = sorted(refetched_ids(outcomes))
    for forget in sql.FORGET_REPLACED if refetched else ():
        await execute(forget, refetched)
    # In one order, so two processes recording the same hops cannot deadlock.
    hops = sorted(
        (pair for outcome in outcomes for pair in outcome.redirected), key=lambda hop: hop[0].url
    )
    if hops:
        await execute(sql.RECORD_REDIRECTED, [redirected_row(*hop) for hop in hops])
        await execute(sql.REDIRECTED_HISTORY, [(r.url, h.fetched_at) for r, h in hops])
    items = item_rows(outcomes)
    if items:
        await execute(sql.ADD_ITEM, items)
    captured = sorted(row for row in map(capture_row, outcomes) if row is not None)
    if captured:
        await execute(sql.KEEP_CAPTURE, captured)
    links = link_rows.rows(outcomes)
    if links:
        await execute(sql.KEEP_LINKS, links)


async def _row(connection: Connection, query: str) -> asyncpg.Record:
    row = await connection.fetchrow(query)
    assert row is not None  # an aggregate always gives one row
    return row


async def _grouped(
    connection: Connection, expression: str, which: str = HAS_RECORD
) -> dict[str, int]:
    rows = await connection.fetch(sql.GROUPED.format(expression=expression, which=which))
    return {str(row["key"]): row["n"] for row in rows}


def _message(error: BaseException, dsn: str) -> str:
    """The error's text, with the password left out should it quote the DSN."""
    return str(error).replace(dsn, mask_credentials(dsn)) or type(error).__name__
