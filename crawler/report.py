"""The `stats` report: counts by status, error and host, duration and rate of a crawl.

It formats `CrawlStats`; it reads no database itself.
"""

from __future__ import annotations

from datetime import datetime

from crawler.models import CrawlStats

TOP_HOSTS = 20


def crawl_duration_s(stats: CrawlStats) -> float | None:
    """Seconds from the first to the last fetch, None with fewer than one record."""
    if stats.first_fetched_at is None or stats.last_fetched_at is None:
        return None
    first = datetime.fromisoformat(stats.first_fetched_at)
    last = datetime.fromisoformat(stats.last_fetched_at)
    return (last - first).total_seconds()


def stats_as_dict(stats: CrawlStats) -> dict[str, object]:
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
    }


def format_stats(stats: CrawlStats) -> str:
    """A human-readable report."""
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
    ]
    for title, counts in (
        ("by status", stats.by_status),
        ("by error", stats.by_error),
        ("by host", dict(list(stats.by_host.items())[:TOP_HOSTS])),
        ("links dropped by limit", stats.limits_hit),
        *((f"proxy {proxy}", figures.as_dict()) for proxy, figures in stats.proxies.items()),
    ):
        lines.append(f"{title}:")
        lines.extend(f"  {key:<40} {count}" for key, count in counts.items())
    return "\n".join(lines)
