"""The `Storage` protocol, and `open_storage()`, which picks the backend from the `db` setting.

A backend owns the frontier (the queue of requests) and the records; it knows neither HTTP nor
HTML. Every backend passes the contract suite in `tests/store/test_contract.py`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Protocol

from crawler.config import DEFAULTS, Config, is_database_url
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
from crawler.store.sqlite import SqliteStorage


class Storage(Protocol):
    """Where the frontier and the records of one crawl live."""

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        """Queue the requests the crawl has not seen (by URL and variant); returns how many
        were new."""

    async def claim_next(
        self, limit: int, room_for: Callable[[str], int], *, recorded_only: bool = False
    ) -> Claim:
        """Take up to `limit` queued requests that are due, at most `room_for(host)` per host;
        with `recorded_only`, only those with a record already (queued again by a recrawl).

        Within a host: higher priority first, then breadth-first (by depth), then in queue
        order. Hosts take turns across calls. A claimed request stays claimed until it is
        recorded or released; claims of a run that ended without either go back to the queue
        when the database is opened again.
        """

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        """Record finished requests, with their items, bodies and redirect hops, and queue what
        they discovered, all in one transaction. Returns how many discovered requests were new."""

    async def requeue_recorded(self, fetched_before: str) -> int:
        """Queue again every plain GET recorded before `fetched_before` (a `fetched_at` time);
        each keeps its record until its new fetch is stored. Returns how many were queued."""

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        """Put claimed requests back in the queue, each with its `retries`; with `not_before`
        (epoch seconds) they are not due before then."""

    async def is_recorded(self, url: str) -> bool:
        """Whether the crawl holds a record for this canonical URL (a plain GET of it)."""

    async def totals(self, *, by_host: bool = False) -> Totals:
        """Records done and requests queued; with `by_host`, records done per host too."""

    async def save_run(self, end: RunEnd) -> None:
        """Keep what a run measured beside its records, for `stats`."""

    def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        """Every record, in the order the requests were first queued."""

    def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        """Every item the parsers produced, in the order they were stored."""

    def iter_history(self, since: str) -> AsyncGenerator[Fetch, None]:
        """The whole history of every URL fetched at or after `since` (a `fetched_at` time),
        URL by URL in queue order, each in time order. Raises `StorageError` for a database
        made before history was kept."""

    def iter_captures(self) -> AsyncGenerator[tuple[PageRecord, HttpCapture], None]:
        """Every record whose exchange was kept (`store_bodies`), with it, in record order."""

    async def stats(self) -> CrawlStats:
        """Totals for the `stats` command."""

    async def broken_links(self, *, referrers_per_link: int) -> list[BrokenLink]:
        """The records that fail as a link does (a status of 400 or more, or an error of
        `BROKEN_LINK_KINDS`), those with the most referring pages first, then in queue order;
        each with up to `referrers_per_link` (at least 1) of them, in queue order."""

    async def records_by_second(self) -> dict[str, int]:
        """Records by the second they were fetched in (`2026-11-30T05:17:59`), in time order."""

    async def records_by_depth(self) -> dict[int, int]:
        """Records by depth, shallowest first."""

    async def close(self) -> None:
        """Flush and close; safe to call twice."""


async def open_storage(
    db: Path | str, *, read_only: bool = False, config: Config = DEFAULTS
) -> Storage:
    """The crawl database named by the `db` setting: a file path is SQLite, a `postgresql://`
    URL a PostgreSQL server. Raises `StorageError` if it cannot be opened or used.

    On PostgreSQL, `config` says how this process shares the crawl: its host leases last
    `lease_timeout` seconds unrenewed, and it holds twice the hosts its `concurrency` can keep
    busy at `per_host` requests each (so the others get the rest)."""
    if is_database_url(db):
        from crawler.store.postgres import PostgresStorage  # noqa: PLC0415  # asyncpg when asked

        busy_hosts = -(-config.concurrency // config.per_host)
        return await PostgresStorage.open(
            str(db),
            read_only=read_only,
            lease_s=config.lease_timeout,
            max_hosts=2 * busy_hosts,
            host_budget=config.max_pages_per_host,
        )
    return await SqliteStorage.open(Path(db), read_only=read_only)
