"""What only a shared PostgreSQL crawl has: processes racing on the same links, and a process
that stopped renewing its leases while it still lives."""

from __future__ import annotations

import asyncio

from crawler.models import CrawlRequest, Outcome, PageRecord, Totals
from crawler.store.postgres import PostgresStorage

LEASE_S = 0.5


def request(n: int, host: str = "a.test") -> CrawlRequest:
    return CrawlRequest(f"http://{host}/{n}", host, 0)


def record_of(claimed: CrawlRequest) -> PageRecord:
    return PageRecord(
        claimed.url, claimed.url, 200, 0, None, "text/html", 1, "ab" * 32, None, 0,
        "2026-11-30T00:00:00.000Z", 1,
    )  # fmt: skip


async def test_processes_queueing_the_same_links_in_opposite_orders_do_not_deadlock(
    postgres_dsn: str,
) -> None:
    first = await PostgresStorage.open(postgres_dsn)
    second = await PostgresStorage.open(postgres_dsn)
    try:
        for round_number in range(10):
            links = [request(round_number * 1000 + n, f"h{n % 7}.test") for n in range(300)]

            added = await asyncio.gather(
                first.add_requests(links), second.add_requests(links[::-1])
            )

            assert sum(added) == 300  # each link queued once, by one of them
        assert await first.totals() == Totals(done=0, queued=3000)
    finally:
        await first.close()
        await second.close()


async def test_a_process_whose_lease_ran_out_can_no_longer_claim_record_or_release(
    postgres_dsn: str,
) -> None:
    slow = await PostgresStorage.open(postgres_dsn, lease_s=LEASE_S)
    await slow.add_requests([request(n) for n in range(10)])
    mine = (await slow.claim_next(4, lambda _host: 4)).requests
    assert slow._renewer is not None
    slow._renewer.cancel()  # it lives on, but no longer renews: as if it were stalled
    await asyncio.sleep(LEASE_S + 0.2)
    other = await PostgresStorage.open(postgres_dsn, lease_s=LEASE_S)
    try:
        first = (await other.claim_next(5, lambda _host: 5)).requests  # takes the host over

        late_claim = (await slow.claim_next(10, lambda _host: 10)).requests
        await slow.release(mine)
        await slow.mark_done([Outcome(r, record_of(r)) for r in mine])
        rest = (await other.claim_next(10, lambda _host: 10)).requests
        await other.mark_done([Outcome(r, record_of(r)) for r in [*first, *rest]])

        assert late_claim == ()  # fenced off the host it no longer holds
        assert len(first) + len(rest) == 10  # the other has every URL once: none released,
        assert len({r.url for r in [*first, *rest]}) == 10  # none recorded behind its back
        assert await other.totals() == Totals(done=10, queued=0, recorded=10)
    finally:
        await other.close()
        await slow.close()
