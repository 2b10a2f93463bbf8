"""Per-host delays, kept in one place: adaptive (they follow latency and back off on trouble),
never below the configured delay or the robots.txt Crawl-delay; and hosts given up.

Pure state, no I/O: the frontier asks it for delays, the polite fetch tells it what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from crawler.errors import ErrorKind

TROUBLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TROUBLE_KINDS = frozenset({ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.DNS, ErrorKind.TLS})
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
MIN_DELAY_S = 0.01  # below this a delay costs more timer work than it spares the server
GIVE_UP_AFTER = 10  # consecutive troubled answers
MAX_CRAWL_DELAY_S = 60.0  # a robots.txt Crawl-delay above this is taken as this


@dataclass
class _HostState:
    delay: float = 0.0
    failures: int = 0


@final
class Throttle:
    """The delay each host should get between request starts, from what its answers show.

    Trouble (429, 5xx, connection errors, timeouts) doubles the delay, from 1 s up to 60 s; a
    good answer halves the distance to the delay its latency calls for (latency divided by
    `per_host`, so a fast host keeps no delay at all). After GIVE_UP_AFTER troubled answers
    in a row the host is given up. With `adaptive` off, delays stay at `base_delay` and only
    the giving up remains. A robots.txt Crawl-delay is a floor under all of it.
    """

    def __init__(self, *, per_host: int, base_delay: float, adaptive: bool = True) -> None:
        self._per_host = per_host
        self._base = base_delay
        self._adaptive = adaptive
        self._hosts: dict[str, _HostState] = {}
        self._crawl_delays: dict[str, float] = {}
        self._given_up: set[str] = set()

    def is_given_up(self, host: str) -> bool:
        return host in self._given_up

    def delay_of(self, host: str) -> float:
        """Seconds between two request starts to `host` from now on; none for a host given up
        (its requests are answered without reaching it)."""
        if host in self._given_up:
            return 0.0
        state = self._hosts.get(host)
        delay = self._base if state is None else state.delay
        floor = self._crawl_delays.get(host)
        return delay if floor is None or floor <= delay else floor

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        """Take the Crawl-delay of `host`'s robots.txt (at most MAX_CRAWL_DELAY_S) as the
        host's least delay."""
        self._crawl_delays[host] = min(seconds, MAX_CRAWL_DELAY_S)

    def observe(
        self, host: str, *, status: int | None, error: str | None, elapsed_s: float
    ) -> float:
        """Take one answer into account; returns the host's adaptive delay from now on (without
        the Crawl-delay floor: see `delay_of`)."""
        state = self._hosts.get(host)
        troubled = status in TROUBLE_STATUSES or error in TROUBLE_KINDS
        if not troubled:
            if state is None:
                return self._base
            state.failures = 0
            state.delay = self._recovered(state.delay, elapsed_s)
            if state.delay <= self._base:
                del self._hosts[host]
                return self._base
            return state.delay
        if state is None:
            state = self._hosts[host] = _HostState(self._base)
        state.failures += 1
        if state.failures >= GIVE_UP_AFTER:
            self._given_up.add(host)
        if self._adaptive:
            state.delay = min(max(state.delay * 2, BACKOFF_START_S), BACKOFF_MAX_S)
        return state.delay

    def _recovered(self, delay: float, elapsed_s: float) -> float:
        if not self._adaptive:
            return self._base
        wanted = max(self._base, elapsed_s / self._per_host)
        delay = (delay + wanted) / 2
        return delay if delay >= MIN_DELAY_S else self._base
