"""The `stats` report: counts by status, error and host, duration and rate of a crawl, and its
broken links with the pages that link to them.

It formats what the store read; it reads no database itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crawler.models import BrokenLink, CrawlStats

TOP_HOSTS = 20
REFERRERS_SHOWN = 10
"""Referring pages named for each broken link; the count of all of them comes beside."""


def crawl_duration_s(stats: CrawlStats) -> float | None:
    """Seconds from the first to the last fetch, None with fewer than one record."""
    if stats.first_fetched_at is None or stats.last_fetched_at is None:
        return None
    first = datetime.fromisoformat(stats.first_fetched_at)
    last = datetime.fromisoformat(stats.last_fetched_at)
    return (last - first).total_seconds()


def failure_of(link: BrokenLink) -> str:
    """What went wrong, in one word: the status if an answer came, else the error kind."""
    return str(link.status) if link.status is not None else str(link.error)


def broken_link_as_dict(link: BrokenLink) -> dict[str, object]:
    return {
        "url": link.url,
        "status": link.status,
        "error": link.error,
        "referrers": list(link.referrers),
        "referrer_count": link.referrer_count,
    }


def stats_as_dict(stats: CrawlStats, broken: Sequence[BrokenLink] = ()) -> dict[str, object]:
    """`stats --json`: every key always there, empty or not."""
    duration = crawl_duration_s(stats)
    return {
        "pages": stats.done,
        "queued": stats.queued,
        "items": stats.items,
        "first_fetched_at": stats.first_fetched_at,
        "last_fetched_at": stats.last_fetched_at,
        "duration_s": None if duration is None else round(duration, 3),
        "pages_per_s": round(stats.done / duration, 1) if duration else None,
        "by_status": stats.by_status,
        "by_error": stats.by_error,
        "by_host": stats.by_host,
        "limits_hit": stats.limits_hit,
        "proxies": {proxy: figures.as_dict() for proxy, figures in stats.proxies.items()},
        "broken_links": [broken_link_as_dict(link) for link in broken],
    }


def format_stats(stats: CrawlStats, broken: Sequence[BrokenLink] = ()) -> str:
    """A human-readable report; a section with nothing to count is left out."""
    summary = stats_as_dict(stats)
    lines = [
        f"pages:     {stats.done}",
        f"queued:    {stats.queued}",
        f"items:     {stats.items}",
        f"first:     {stats.first_fetched_at or '-'}",
        f"last:      {stats.last_fetched_at or '-'}",
        f"duration:  {summary['duration_s'] if summary['duration_s'] is not None else '-'} s",
        f"rate:      {summary['pages_per_s'] if summary['pages_per_s'] is not None else '-'}"
        " pages/s",
        f"broken:    {len(broken)} link{'' if len(broken) == 1 else 's'}",
    ]
    for title, counts in (
        ("by status", stats.by_status),
        ("by error", stats.by_error),
        (_hosts_title(stats), dict(list(stats.by_host.items())[:TOP_HOSTS])),
        ("links dropped by limit", stats.limits_hit),
        *((f"proxy {proxy}", figures.as_dict()) for proxy, figures in stats.proxies.items()),
    ):
        if counts:
            lines.append(f"{title}:")
            lines.extend(f"  {key:<40} {count}" for key, count in counts.items())
    lines.extend(_broken_lines(broken))
    return "\n".join(lines)


def _hosts_title(stats: CrawlStats) -> str:
    hosts = len(stats.by_host)
    return f"by host (top {TOP_HOSTS} of {hosts})" if hosts > TOP_HOSTS else "by host"


def _broken_lines(broken: Sequence[BrokenLink]) -> list[str]:
    """Each broken link under what went wrong, then the pages it is linked from."""
    if not broken:
        return []
    width = max(len(failure_of(link)) for link in broken)
    lines = ["broken links (status or error, URL, then the pages that link to it):"]
    for link in broken:
        lines.append(f"  {failure_of(link):<{width}}  {link.url}")
        indent = " " * (width + 4)
        lines.extend(f"{indent}from {referrer}" for referrer in link.referrers)
        if (rest := link.referrer_count - len(link.referrers)) > 0:
            lines.append(f"{indent}and {rest} more page{'s' if rest > 1 else ''}")
    return lines
