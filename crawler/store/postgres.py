"""`PostgresStorage`: one crawl shared by many processes through a PostgreSQL server (asyncpg).

Work is leased by host. A process takes a batch of hosts that have work (`FOR UPDATE SKIP
LOCKED`), claims their ready URLs, renews its leases while it works, and gives a host back once
nothing of it is ready or claimed. Only the holder of a host fetches from it, so per-host
concurrency and delays hold across every process. A process that dies stops renewing: once its
leases run out the others take its hosts, and its claimed but unrecorded URLs go back to the
queue. Nothing here knows HTTP or HTML.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, final

import asyncpg

from crawler.config import DEFAULTS
from crawler.errors import StorageError
from crawler.models import (
    Claim,
    CrawlRequest,
    CrawlStats,
    ItemRecord,
    Outcome,
    PageRecord,
    RunEnd,
    Totals,
)
from crawler.store import postgres_queries as sql
from crawler.store.postgres_schema import Connection, prepare
from crawler.store.rows import finish_row, options_of, options_row, proxy_figures, redirected_row
from crawler.urls import mask_credentials

IDLE_HOLD_S = 10.0  # a host given back stays with its holder this long, unless it takes it again
FIRST_LEASE_BATCH = 8  # hosts taken at a time; doubled while a claim still has room
MAX_LEASE_ROUNDS = 6
DEFAULT_MAX_HOSTS = 64


@final
class PostgresStorage:
    """A crawl database on a PostgreSQL server. Open with `await PostgresStorage.open(dsn)`."""

    def __init__(self, pool: asyncpg.Pool, shown: str, *, lease_s: float, max_hosts: int) -> None:
        self._pool = pool
        self._shown = shown  # the DSN without its password, for messages
        self._lease_s = lease_s
        self._max_hosts = max_hosts
        self._worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: list[str] = []  # hosts leased to this process, sorted
        self._cursor = ""  # the host served last: the next claim starts after it
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
    ) -> PostgresStorage:
        """Connect, and unless `read_only` create the tables if they are missing. A host leased
        here stays this process's `lease_s` seconds unrenewed (it is renewed every third of
        that); the process holds `max_hosts` hosts at most, leaving the rest to the others.

        Raises `StorageError` (the password left out) if the server cannot be reached or
        the database holds no crawl of this version."""
        shown = mask_credentials(dsn)
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, command_timeout=120)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(f"cannot open database {shown}: {_message(exc, dsn)}") from None
        try:
            async with pool.acquire() as connection:
                await prepare(connection, shown, read_only=read_only)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise StorageError(f"cannot use database {shown}: {_message(exc, dsn)}") from None
            raise
        storage = cls(pool, shown, lease_s=lease_s, max_hosts=max_hosts)
        if not read_only:
            storage._renewer = asyncio.create_task(storage._renew_leases(), name="lease-renewer")
        return storage

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        if not requests:
            return 0
        async with self._transaction() as connection:
            return await _insert(connection, requests)

    async def claim_next(self, limit: int, room_for: Callable[[str], int]) -> Claim:
        now = time.time()
        async with self._transaction() as connection:
            claimed = await self._claim_from(connection, self._in_turn(), limit, room_for, now)
            batch = FIRST_LEASE_BATCH
            for _ in range(MAX_LEASE_ROUNDS):
                if len(claimed) >= limit or len(self._held) >= self._max_hosts:
                    break
                batch = min(batch, self._max_hosts - len(self._held))
                hosts = await self._lease(connection, batch, now)
                if not hosts:
                    break
                room = limit - len(claimed)
                claimed += await self._claim_from(connection, hosts, room, room_for, now)
                batch *= 2
            if claimed:
                self._cursor = claimed[-1].host
            await self._give_back_idle(connection, now)
            next_due = None
            if len(claimed) < limit:
                next_due = await connection.fetchval(sql.NEXT_DUE, now, self._worker)
        return Claim(tuple(claimed), next_due)

    def _in_turn(self) -> list[str]:
        """The hosts held, starting after the one served last: hosts take turns."""
        start = bisect.bisect_right(self._held, self._cursor)
        return self._held[start:] + self._held[:start]

    async def _lease(self, connection: Connection, count: int, now: float) -> list[str]:
        """Take up to `count` more hosts that have work, least recently leased first; their
        claims by processes whose lease ran out go back to the queue."""
        rows = await connection.fetch(
            sql.LEASE_HOSTS, self._worker, now, now + self._lease_s, count, self._held
        )
        hosts = sorted(row["host"] for row in rows)
        if hosts:
            await connection.execute(sql.RECLAIM_ORPHANS, hosts, self._worker)
            self._held = sorted({*self._held, *hosts})
        return hosts

    async def _claim_from(
        self,
        connection: Connection,
        hosts: Sequence[str],
        limit: int,
        room_for: Callable[[str], int],
        now: float,
    ) -> list[CrawlRequest]:
        """Up to `limit` ready requests, host after host in the order given, at most
        `room_for(host)` of each."""
        rooms = {host: room for host in hosts if (room := min(room_for(host), limit)) > 0}
        if not rooms:
            return []
        ready: dict[str, list[int]] = {host: [] for host in rooms}
        for row in await connection.fetch(
            sql.READY_OF_HOSTS, list(rooms), list(rooms.values()), now
        ):
            ready[row["host"]].append(row["id"])
        chosen = [row_id for host in rooms for row_id in ready[host]][:limit]
        if not chosen:
            return []
        rows = await connection.fetch(sql.CLAIM, self._worker, chosen)
        position = {row_id: n for n, row_id in enumerate(chosen)}
        return [_request_of(row) for row in sorted(rows, key=lambda r: position[r["id"]])]

    async def _give_back_idle(self, connection: Connection, now: float) -> None:
        """Hosts with nothing ready and nothing claimed here go back, after IDLE_HOLD_S."""
        if not self._held:
            return
        rows = await connection.fetch(
            sql.GIVE_BACK_IDLE, self._worker, self._held, now, now + IDLE_HOLD_S
        )
        idle = {row["host"] for row in rows}
        self._held = [host for host in self._held if host not in idle]

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                rows = await self._pool.fetch(
                    sql.RENEW, self._worker, held, time.time() + self._lease_s
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                continue  # retried next time: a lease outlasts two missed renewals
            lost = set(held) - {row["host"] for row in rows}
            if lost:  # taken over while this process was too slow to renew
                self._held = [host for host in self._held if host not in lost]

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        discovered = [request for outcome in outcomes for request in outcome.discovered]
        limits: dict[str, int] = {}
        for outcome in outcomes:
            for name, count in outcome.limits_hit.items():
                limits[name] = limits.get(name, 0) + count
        async with self._transaction() as connection:
            await connection.executemany(sql.FINISH, [finish_row(o) for o in outcomes])
            redirected = [redirected_row(*pair) for o in outcomes for pair in o.redirected]
            if redirected:
                await connection.executemany(sql.RECORD_REDIRECTED, redirected)
            if limits:
                await connection.executemany(sql.COUNT, list(limits.items()))
            items = [(i.url, i.handler, i.data) for o in outcomes for i in o.items]
            if items:
                await connection.executemany(sql.ADD_ITEM, items)
            bodies = [(o.request.id, o.body) for o in outcomes if o.body is not None]
            if bodies:
                await connection.executemany(sql.KEEP_BODY, bodies)
            return await _insert(connection, discovered) if discovered else 0

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        if not requests:
            return
        async with self._transaction() as connection:
            await connection.executemany(
                sql.RELEASE, [(r.retries, not_before, r.id) for r in requests]
            )

    async def is_recorded(self, url: str) -> bool:
        async with self._reading() as connection:
            return bool(await connection.fetchval(sql.IS_RECORDED, url))

    async def totals(self, *, by_host: bool = False) -> Totals:
        async with self._reading() as connection:
            done, queued = await _row(connection, sql.TOTALS)
            hosts = await _grouped(connection, "host") if by_host else {}
        return Totals(done, queued, hosts)

    async def save_run(self, end: RunEnd) -> None:
        if end.host_budget is None and not end.proxies:
            return
        async with self._transaction() as connection:
            if end.host_budget is not None:
                left = await connection.fetchval(sql.OVER_HOST_BUDGET, end.host_budget)
                await connection.execute(sql.SET_COUNTER, "max_pages_per_host", left)
            rows = [(proxy, *figures.as_dict().values()) for proxy, figures in end.proxies.items()]
            if rows:
                await connection.executemany(sql.SAVE_PROXY, rows)

    async def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        async for row in self._rows(sql.RECORDS):
            yield PageRecord(*row)

    async def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        async for url, handler, data in self._rows(sql.ITEMS):
            yield ItemRecord(url, handler, data)

    async def stats(self) -> CrawlStats:
        async with self._reading() as connection:
            done, queued = await _row(connection, sql.TOTALS)
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

    async def close(self) -> None:
        """Give back this process's claims and hosts, and disconnect; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                async with self._pool.acquire() as connection, connection.transaction():
                    await connection.execute(sql.RELEASE_ALL_CLAIMS, self._worker)
                    await connection.execute(sql.GIVE_BACK_ALL, self._worker)
        await self._pool.close()

    async def abandon(self) -> None:
        """Disconnect as a killed process would: nothing given back (for tests)."""
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        self._pool.terminate()

    async def _rows(self, query: str) -> AsyncGenerator[asyncpg.Record, None]:
        async with self._reading() as connection, connection.transaction():
            async for row in connection.cursor(query, prefetch=1000):
                yield row

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """A connection in a transaction; database errors become `StorageError`."""
        async with self._reading() as connection, connection.transaction():
            yield connection

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire() as connection:
                yield connection
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"cannot use database {self._shown}: {exc}") from None


async def _insert(connection: Connection, requests: Sequence[CrawlRequest]) -> int:
    """Queue the requests not in the table yet, and their hosts; returns how many were new."""
    columns = list(zip(*(options_row(request) for request in requests), strict=True))
    return int(await connection.fetchval(sql.INSERT_REQUESTS, *columns))


async def _row(connection: Connection, query: str) -> asyncpg.Record:
    row = await connection.fetchrow(query)
    assert row is not None  # an aggregate always gives one row
    return row


async def _grouped(connection: Connection, expression: str) -> dict[str, int]:
    rows = await connection.fetch(sql.GROUPED.format(expression=expression))
    return {str(row["key"]): row["n"] for row in rows}


def _request_of(row: asyncpg.Record) -> CrawlRequest:
    options: list[Any] = [row[name] for name in sql.OPTION_COLUMNS]
    return CrawlRequest(
        row["url"],
        row["host"],
        row["depth"],
        row["parent"],
        row["retries"],
        row["id"],
        options_of(options),
    )


def _message(error: BaseException, dsn: str) -> str:
    """The error's text, with the password left out should it quote the DSN."""
    return str(error).replace(dsn, mask_credentials(dsn)) or type(error).__name__
