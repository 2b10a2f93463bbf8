"""A `Storage` that hands every call to another: subclass it to make one call misbehave."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence

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
from crawler.store import Storage


class DelegatingStorage:
    """Passes each `Storage` call to `inner` (a real backend)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    async def add_requests(self, requests: Sequence[CrawlRequest]) -> int:
        return await self.inner.add_requests(requests)

    async def claim_next(
        self, limit: int, room_for: Callable[[str], int], *, recorded_only: bool = False
    ) -> Claim:
        return await self.inner.claim_next(limit, room_for, recorded_only=recorded_only)

    async def mark_done(self, outcomes: Sequence[Outcome]) -> int:
        return await self.inner.mark_done(outcomes)

    async def requeue_recorded(self, fetched_before: str) -> int:
        return await self.inner.requeue_recorded(fetched_before)

    async def release(
        self, requests: Sequence[CrawlRequest], *, not_before: float | None = None
    ) -> None:
        await self.inner.release(requests, not_before=not_before)

    async def is_recorded(self, url: str) -> bool:
        return await self.inner.is_recorded(url)

    async def totals(self, *, by_host: bool = False) -> Totals:
        return await self.inner.totals(by_host=by_host)

    async def save_run(self, end: RunEnd) -> None:
        await self.inner.save_run(end)

    def iter_records(self) -> AsyncGenerator[PageRecord, None]:
        return self.inner.iter_records()

    def iter_items(self) -> AsyncGenerator[ItemRecord, None]:
        return self.inner.iter_items()

    def iter_history(self, since: str) -> AsyncGenerator[Fetch, None]:
        return self.inner.iter_history(since)

    def iter_captures(self) -> AsyncGenerator[tuple[PageRecord, HttpCapture], None]:
        return self.inner.iter_captures()

    async def stats(self) -> CrawlStats:
        return await self.inner.stats()

    async def broken_links(self, *, referrers_per_link: int) -> list[BrokenLink]:
        return await self.inner.broken_links(referrers_per_link=referrers_per_link)

    async def records_by_second(self) -> dict[str, int]:
        return await self.inner.records_by_second()

    async def records_by_depth(self) -> dict[int, int]:
        return await self.inner.records_by_depth()

    async def close(self) -> None:
        await self.inner.close()


def _is_a_storage(storage: DelegatingStorage) -> Storage:
    return storage  # mypy checks here that the class keeps up with the protocol
