"""When a failed request is tried again, and after how long: pure decisions, no I/O."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from crawler.config import RetryPolicy
from crawler.errors import ErrorKind
from crawler.models import FetchResult

RETRY_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.DNS, ErrorKind.PROXY})
BACKOFF_BASE_S = 0.5


def can_retry(policy: RetryPolicy, result: FetchResult) -> bool:
    """Whether to try again: tries left, and a connection, proxy or DNS failure, a timeout,
    or one of the retry statuses (never another 4xx)."""
    if result.request.retries >= policy.retries:
        return False
    return result.error in RETRY_KINDS or (
        result.status is not None and result.status in policy.retry_statuses
    )


def retry_delay(
    policy: RetryPolicy, attempt: int, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait before try `attempt + 1`: Retry-After if the server gave one, else
    exponential backoff with full jitter; never more than `retry_max_wait`."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.retry_max_wait)
    return rng.uniform(0.0, min(policy.retry_max_wait, BACKOFF_BASE_S * 2**attempt))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds from now: delay-seconds or an HTTP-date; None if absent
    or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
