"""Adaptive per-host throttling: delays that follow latency, back off on trouble, give up."""

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
    the giving up remains.
    """

    def __init__(self, *, per_host: int, base_delay: float, adaptive: bool = True) -> None:
        self._per_host = per_host
        self._base = base_delay
        self._adaptive = adaptive
        self._hosts: dict[str, _HostState] = {}
        self._given_up: set[str] = set()

    def is_given_up(self, host: str) -> bool:
        return host in self._given_up

    def observe(
        self, host: str, *, status: int | None, error: str | None, elapsed_s: float
    ) -> float:
        """Take one answer into account; returns the host's delay from now on."""
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
