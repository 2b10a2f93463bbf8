"""What to fetch next: a bounded in-memory window over the stored queue, per-host limits.

It talks to the store only through `Storage` and knows no HTTP; each host's delay comes from
the throttle (`delay_of`), which owns it.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import final

from crawler.config import Limits
from crawler.models import CrawlRequest
from crawler.store import Storage

MIN_WINDOW = 256
MIN_HOST_WINDOW = 8


@final
class Frontier:
    """Hands out requests so no host has more than `per_host` in flight or starts sooner than
    `delay_of(host)` after its previous start; hosts take turns. Only a window of the queue is
    in memory.

    Each request handed out must be given back with `finish()` once fetched, and counted with
    `settle()` once its outcome is stored.
    """

    def __init__(  # the limits, and what this run starts from
        self,
        storage: Storage,
        limits: Limits,
        *,
        delay_of: Callable[[str], float],
        page_budget: int | None = None,
        queued: int = 0,
        done_by_host: Mapping[str, int] | None = None,
    ) -> None:
        """`delay_of(host)` is the host's delay between request starts (the throttle owns it);
        `page_budget` the new records this run may make (None: no limit): requests for URLs
        with a record already (a recrawl's) do not count, and are still claimed once it is
        spent."""
        self._storage = storage
        self._per_host = limits.per_host
        self._delay_of = delay_of
        self._window = max(limits.concurrency * 4, MIN_WINDOW)
        self._host_window = max(limits.per_host * 4, MIN_HOST_WINDOW)
        self._max_unsettled = self._window + limits.concurrency * 2
        self._budget = page_budget
        self._host_budget = limits.max_pages_per_host
        self._taken_by_host: dict[str, int] = dict(done_by_host or {})
        self._stored_queued = queued
        self._queues: dict[str, deque[CrawlRequest]] = {}
        self._held = 0
        self._in_flight: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        self._ready: deque[str] = deque()
        self._scheduled: set[str] = set()
        self._timers: list[tuple[float, str]] = []
        self._timer: asyncio.Handle | None = None  # uvloop gives a plain Handle for a past time
        self._timer_at = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._unsettled = 0
        self._may_have_stored = True
        self._news = 0  # counts the times more work may have been stored (see `_refill`)
        self._refilling = False
        self._stopping = False
        self._retry_timer: asyncio.Handle | None = None
        self._retry_due: float | None = None

    @property
    def queued(self) -> int:
        """Requests waiting, stored and in memory."""
        return self._stored_queued + self._held

    @property
    def is_waiting_for_time(self) -> bool:
        """Whether work is held back by a delay or a retry time, not lost."""
        return bool(self._timers) or self._retry_due is not None

    @property
    def hosts_in_delay(self) -> int:
        """Hosts with work waiting for their delay between requests to pass."""
        return len(self._timers)

    @property
    def retry_due_at(self) -> float | None:
        """When (epoch seconds) the next postponed request becomes due, if one waits."""
        if self._retry_due is None:
            return None
        return time.time() + self._retry_due - self._now()

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    @property
    def active_hosts(self) -> int:
        """Hosts with a request in flight."""
        return len(self._in_flight)

    async def next(self) -> CrawlRequest | None:
        """The next request to fetch, waiting as long as needed; None when the crawl is over."""
        while not self._stopping:
            request = self._pop_ready()
            if request is not None:
                return request
            if self._should_refill():
                await self._refill()
                continue
            if self._is_exhausted():
                self.stop()
                break
            await self._wait()
        return None

    def finish(self, request: CrawlRequest) -> None:
        """The request's fetch is over: free its host's slot."""
        host = request.host
        remaining = self._in_flight[host] - 1
        if remaining:
            self._in_flight[host] = remaining
        else:
            del self._in_flight[host]
            start = self._next_start.get(host)
            if start is not None and host not in self._queues and start <= self._now():
                del self._next_start[host]
        if self._consider(host):
            self._wake(1)

    def expect(self) -> None:
        """Hold the crawl open for one more `settle()` (a task that will queue requests)."""
        self._unsettled += 1

    def settle(self, count: int, *, discovered: int) -> None:
        """`count` outcomes are stored, and they queued `discovered` new requests."""
        self._unsettled -= count
        if discovered:
            self._stored_queued += discovered
            self._expect_stored()
        if self._unsettled == 0 or discovered:
            self._wake(len(self._waiters) if self._unsettled == 0 else 1)

    def postpone(self, host: str, delay: float) -> None:
        """`host` has just become slower: its next request starts `delay` seconds from now at
        the earliest."""
        self._next_start[host] = max(self._next_start.get(host, 0.0), self._now() + delay)

    def drop_delay(self, host: str) -> None:
        """Let `host`'s queued requests go at once (they will not reach the server anyway)."""
        self._next_start.pop(host, None)
        if any(waiting == host for _, waiting in self._timers):
            self._timers = [entry for entry in self._timers if entry[1] != host]
            heapq.heapify(self._timers)
            self._scheduled.discard(host)
        if self._consider(host):
            self._wake(1)

    def defer(self, request: CrawlRequest, not_before: float) -> None:
        """`request` went back to the store, to be tried again at `not_before` (epoch
        seconds): its claim no longer counts against the page budgets (it is claimed again
        then), and the crawl stays open until then."""
        if self._budget is not None and request.last is None:
            self._budget += 1
        if self._host_budget is not None:
            self._taken_by_host[request.host] -= 1
        self.watch_deferred(not_before)

    def watch_deferred(self, not_before: float) -> None:
        """A stored request becomes claimable at `not_before` (epoch seconds): keep the crawl
        open until then, and look for it at that time."""
        due = self._now() + max(not_before - time.time(), 0.0)
        if self._retry_due is not None and self._retry_due <= due:
            return
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._retry_due = due
        self._retry_timer = asyncio.get_running_loop().call_at(due, self._on_retry_due)

    def _on_retry_due(self) -> None:
        self._retry_timer = None
        self._retry_due = None
        self._expect_stored()
        self._wake(1)

    def stop(self) -> None:
        """Hand out nothing more; every waiting `next()` returns None."""
        self._stopping = True
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
        self._wake(len(self._waiters))

    def take_held(self) -> list[CrawlRequest]:
        """Empty the in-memory window (to give it back to the store on shutdown)."""
        held = [request for queue in self._queues.values() for request in queue]
        self._queues.clear()
        self._held = 0
        return held

    def _pop_ready(self) -> CrawlRequest | None:
        self._promote_due()
        while self._ready:
            host = self._ready.popleft()
            self._scheduled.discard(host)
            queue = self._queues.get(host)
            if not queue or self._in_flight.get(host, 0) >= self._per_host:
                continue
            request = queue.popleft()
            self._held -= 1
            if len(queue) < self._host_window // 2:
                self._expect_stored()
                if not queue:
                    del self._queues[host]
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            delay = self._delay_of(host)
            if delay:
                self._next_start[host] = self._now() + delay
            self._consider(host)
            if self._ready:
                self._wake(1)
            return request
        return None

    def _consider(self, host: str) -> bool:
        """Line the host up if it has work and a free slot; True if it is ready now."""
        if host in self._scheduled or host not in self._queues:
            return False
        if self._in_flight.get(host, 0) >= self._per_host:
            return False
        self._scheduled.add(host)
        start = self._next_start.get(host)
        if start is None or start <= self._now():
            self._ready.append(host)
            return True
        heapq.heappush(self._timers, (start, host))
        self._arm_timer()
        return False

    def _promote_due(self) -> int:
        if not self._timers:
            return 0
        now = self._now()
        promoted = 0
        while self._timers and self._timers[0][0] <= now:
            self._ready.append(heapq.heappop(self._timers)[1])
            promoted += 1
        return promoted

    def _arm_timer(self) -> None:
        earliest = self._timers[0][0]
        if self._timer is not None:
            if self._timer_at <= earliest:
                return
            self._timer.cancel()
        self._timer_at = earliest
        self._timer = asyncio.get_running_loop().call_at(earliest, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake(self._promote_due())
        if self._timers:
            self._arm_timer()

    def _should_refill(self) -> bool:
        return (
            self._may_have_stored
            and not self._refilling
            and self._held < self._window // 2
            and self._unsettled < self._max_unsettled
        )

    def _is_exhausted(self) -> bool:
        no_more_stored = not self._may_have_stored
        idle = not self._refilling and not self._held and not self._unsettled
        return no_more_stored and idle and self._retry_due is None

    def _expect_stored(self) -> None:
        """More work may be in the store now: the next refill asks for it."""
        self._may_have_stored = True
        self._news += 1

    async def _refill(self) -> None:
        self._refilling = True
        news = self._news
        try:
            limit = self._window - self._held
            # Once no new record may be made, only refetches (a recrawl's) are claimed.
            recorded_only = self._budget == 0
            if self._budget:
                limit = min(limit, self._budget)
            asked_at = time.time()
            claim = await self._storage.claim_next(
                limit, self._room_for, recorded_only=recorded_only
            )
            claimed = claim.requests
            # A due time after the claim began counts even if it has passed by now; an older
            # one is work this claim could not take (a host over its budget, say).
            if claim.next_due is not None and claim.next_due > asked_at:
                self.watch_deferred(claim.next_due)
        finally:
            self._refilling = False
        if len(claimed) < limit and self._news == news:
            # The store had no more; unless it gained some while it was being asked (another
            # connection may commit discoveries meanwhile), the frontier waits for news.
            self._may_have_stored = False
        if self._budget is not None:
            self._budget -= sum(1 for request in claimed if request.last is None)
        self._stored_queued = max(self._stored_queued - len(claimed), 0)
        self._unsettled += len(claimed)
        self._held += len(claimed)
        for request in claimed:
            self._queues.setdefault(request.host, deque()).append(request)
            if self._host_budget is not None:
                self._taken_by_host[request.host] = self._taken_by_host.get(request.host, 0) + 1
        for host in {request.host for request in claimed}:
            self._consider(host)
        self._wake(len(self._waiters))

    def _room_for(self, host: str) -> int:
        room = self._host_window - len(self._queues.get(host, ()))
        if self._host_budget is not None:
            room = min(room, self._host_budget - self._taken_by_host.get(host, 0))
        return room

    async def _wait(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done():
                waiter.cancel()

    def _wake(self, count: int) -> None:
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _now(self) -> float:
        return asyncio.get_running_loop().time()
