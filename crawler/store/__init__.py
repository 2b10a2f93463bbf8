"""The `Storage` protocol: the frontier and the records behind one small async interface."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Protocol

from crawler.models import CrawlRequest, CrawlStats, ItemRecord, Outcome, PageRecord


class Storage(Protocol):
    """Where the frontier and the records live. Every backend passes `tests/store/`."""

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        """Queue the requests whose URL the crawl has not seen; returns how many were new."""

    async def claim_next(self, limit: int, room_for: Callable[[str], int]) -> list[CrawlRequest]:
        """Take up to `limit` queued requests, at most `room_for(host)` per host.

        Breadth-first within a host; hosts are visited round-robin across calls.
        """

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        """Record finished requests and queue what they discovered, in one transaction.

        Returns how many discovered URLs were new.
        """

    async def defer(self, request: CrawlRequest, *, retries: int, not_before: float) -> None:
        """Put a claimed request back in the queue to be tried again, not before `not_before`
        (seconds since the epoch), with its retry count."""

    async def earliest_deferred(self) -> float | None:
        """The earliest `not_before` among queued requests (epoch seconds), or None."""

    async def release(self, requests: Sequence[CrawlRequest]) -> None:
        """Put claimed but unfinished requests back in the queue."""

    async def count(self) -> tuple[int, int]:
        """(records done, requests queued or claimed)."""

    async def is_recorded(self, url: str) -> bool:
        """Whether the crawl already holds a record for this canonical URL."""

    async def count_over_budget(self, budget: int) -> int:
        """Queued requests of hosts that already have `budget` records."""

    async def set_counter(self, name: str, value: int) -> None:
        """Set a named figure shown by `stats` (with the trap-limit counts)."""

    async def done_by_host(self) -> dict[str, int]:
        """Records done, by host (for the per-host page budget)."""

    def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        """Every record, in the order they were first queued."""

    def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        """Every item the parsers produced, in the order they were stored."""

    async def stats(self) -> CrawlStats:
        """Totals for the `stats` command."""

    async def close(self) -> None:
        """Flush and close; safe to call twice."""
