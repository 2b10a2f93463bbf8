"""The hosts one process holds in a shared PostgreSQL crawl: leasing them, claiming from them,
renewing their leases and giving them back.

A host is leased to one process at a time, so only that process fetches from it and per-host
limits hold across the fleet. Only `crawler.store.postgres` uses it.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, final

import asyncpg

from crawler.models import CrawlRequest
from crawler.store import postgres_queries as sql
from crawler.store.postgres_schema import Connection
from crawler.store.rows import last_validators, options_of

log = logging.getLogger("crawler")

IDLE_HOLD_S = 10.0  # a host given back stays with its holder this long, unless it takes it again
FIRST_LEASE_BATCH = 8  # hosts taken at a time; doubled while a claim still has room
MAX_LEASE_ROUNDS = 6


@final
class HostLeases:
    """The hosts leased to worker `worker`: at most `max_hosts`, each `lease_s` seconds
    unrenewed; with a `host_budget`, no more requests of a host than its records leave room for
    (counted in the shared database when the host is leased)."""

    def __init__(
        self, worker: str, *, lease_s: float, max_hosts: int, host_budget: int | None
    ) -> None:
        self.worker = worker
        self._lease_s = lease_s
        self._max_hosts = max_hosts
        self._host_budget = host_budget
        self.held: list[str] = []  # sorted
        self._cursor = ""  # the host served last: the next claim starts after it
        self._budget_left: dict[str, int] = {}
        self._spent: set[str] = set()  # over budget: never leased again by this process

    @property
    def at_cap(self) -> bool:
        return len(self.held) >= self._max_hosts

    async def claim(
        self,
        connection: Connection,
        limit: int,
        room_for: Callable[[str], int],
        now: float,
        *,
        recorded_only: bool = False,
    ) -> list[CrawlRequest]:
        """Up to `limit` ready requests of the hosts held (with `recorded_only`, only those with
        a record already), taking more hosts while there is room; hosts take turns across
        calls."""
        await self._give_back_idle(connection, now)
        start = bisect.bisect_right(self.held, self._cursor)
        in_turn = self.held[start:] + self.held[:start]
        ready = sql.REQUEUED_OF_HOSTS if recorded_only else sql.READY_OF_HOSTS
        claimed = await self._claim_from(connection, ready, in_turn, limit, (room_for, now))
        batch = FIRST_LEASE_BATCH
        for _ in range(MAX_LEASE_ROUNDS):
            if len(claimed) >= limit or self.at_cap:
                break
            hosts = await self._lease(connection, min(batch, self._max_hosts - len(self.held)), now)
            if not hosts:
                break
            room = limit - len(claimed)
            claimed += await self._claim_from(connection, ready, hosts, room, (room_for, now))
            batch *= 2
        if claimed:
            self._cursor = claimed[-1].host
        return claimed

    async def _lease(self, connection: Connection, count: int, now: float) -> list[str]:
        """Take up to `count` more hosts that have work, least recently leased first; claims
        left on them by processes whose lease ran out go back to the queue."""
        rows = await connection.fetch(
            sql.LEASE_HOSTS,
            self.worker,
            now,
            now + self._lease_s,
            count,
            [*self.held, *self._spent],
        )
        hosts = sorted(row["host"] for row in rows)
        if hosts:
            await connection.execute(sql.RECLAIM_ORPHANS, hosts, self.worker)
            self.held = sorted({*self.held, *hosts})
            if self._host_budget is not None:
                rows = await connection.fetch(sql.DONE_OF_HOSTS, hosts)
                done: dict[str, int] = {row["host"]: row["count"] for row in rows}
                for host in hosts:
                    self._budget_left[host] = self._host_budget - done.get(host, 0)
        return hosts

    async def _claim_from(
        self,
        connection: Connection,
        ready_query: str,
        hosts: Sequence[str],
        limit: int,
        when: tuple[Callable[[str], int], float],
    ) -> list[CrawlRequest]:
        room_for, now = when
        rooms = {host: room for host in hosts if (room := self._room(host, room_for, limit)) > 0}
        if not rooms:
            return []
        ready: dict[str, list[int]] = {host: [] for host in rooms}
        found = await connection.fetch(
            ready_query, list(rooms), list(rooms.values()), now, self.worker
        )
        for row in found:
            ready[row["host"]].append(row["id"])
        chosen = [row_id for host in rooms for row_id in ready[host]][:limit]
        if not chosen:
            return []
        rows = await connection.fetch(sql.CLAIM, self.worker, chosen)
        position = {row_id: n for n, row_id in enumerate(chosen)}
        claimed = [_request_of(row) for row in sorted(rows, key=lambda r: position[r["id"]])]
        for request in claimed:
            if request.host in self._budget_left:
                self._budget_left[request.host] -= 1
        return claimed

    def _room(self, host: str, room_for: Callable[[str], int], limit: int) -> int:
        room = min(room_for(host), limit)
        left = self._budget_left.get(host)
        return room if left is None else min(room, left)

    async def _give_back_idle(self, connection: Connection, now: float) -> None:
        """Hosts with nothing ready and nothing claimed here go back (others may take them
        after IDLE_HOLD_S), and so do hosts over their budget (at once, for good)."""
        if not self.held:
            return
        rows = await connection.fetch(
            sql.GIVE_BACK_IDLE, self.worker, self.held, now, now + IDLE_HOLD_S
        )
        gone = {row["host"] for row in rows}
        spent = [h for h in self.held if h not in gone and self._budget_left.get(h, 1) <= 0]
        if spent and self._host_budget is not None:
            rows = await connection.fetch(sql.GIVE_BACK_SPENT, self.worker, spent)
            self._spent.update(row["host"] for row in rows)
            gone.update(self._spent)
        self.held = [host for host in self.held if host not in gone]

    async def renew(self, pool: asyncpg.Pool) -> None:
        """Extend the leases of the hosts held; hosts taken over meanwhile are dropped."""
        held = list(self.held)
        if not held:
            return
        rows = await pool.fetch(sql.RENEW, self.worker, held, time.time() + self._lease_s)
        lost = set(held) - {row["host"] for row in rows}
        if lost:
            log.warning("lost the lease of %d hosts (renewed too late)", len(lost))
            self.held = [host for host in self.held if host not in lost]


def _request_of(row: asyncpg.Record) -> CrawlRequest:
    options: list[Any] = [row[name] for name in sql.OPTION_COLUMNS]
    return CrawlRequest(
        row["url"], row["host"], row["depth"], row["parent"], row["retries"], row["id"],
        options_of(options),
        last_validators(row["etag"], row["last_modified"], row["recorded"]),
    )  # fmt: skip
