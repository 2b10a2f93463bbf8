"""The `report` page: one self-contained HTML file of a crawl's figures and charts.

Everything is inline (style and SVG charts); a Content-Security-Policy forbids the page to
load anything, so it reads the same opened from disk, offline or mailed. It formats what the
store read; it reads no database itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from crawler.models import BrokenLink, CrawlStats, ProxyFigures
from crawler.stats_report import REFERRERS_SHOWN, TOP_HOSTS, crawl_duration_s, failure_of
from crawler.svg_charts import Bar, bar_chart, column_chart, time_chart

MAX_COLUMNS = 120  # of the rate chart: seconds are put together into buckets beyond that
BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
STATUS_COLORS = {"2": "#59a14f", "3": "#4c78a8", "4": "#f28e2b", "5": "#e15759"}
GREY, RED = "#9d9d9d", "#e15759"
LIMITS = {
    "links_per_page": "links past max_links_per_page",
    "url_too_long": "URLs longer than max_url_length",
    "path_too_deep": "paths deeper than max_path_depth",
    "repeated_segment": "paths repeating a segment past max_segment_repeats",
    "queries_per_path": "queries of one path past max_queries_per_path",
    "max_pages_per_host": "requests left queued by max_pages_per_host",
}
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; margin: 2rem auto; max-width: 60rem;
  padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.source { color: #666; margin-top: 0; }
dl.tiles { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 1.2rem 0; }
dl.tiles div { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.9rem; }
dl.tiles dt { color: #666; font-size: 0.8rem; } dl.tiles dd { margin: 0; font-size: 1.3rem; }
svg { max-width: 100%; height: auto; display: block; }
svg text { font: 12px ui-monospace, monospace; fill: #333; }
svg .axis { fill: #666; } svg .grid { stroke: #e3e3e3; }
table { border-collapse: collapse; width: 100%; }
thead th { white-space: nowrap; }
th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.5rem;
  border-bottom: 1px solid #eee; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
td.url { overflow-wrap: anywhere; }
ul.referrers { margin: 0.2rem 0 0; padding-left: 1rem; list-style: none; font-size: 0.9rem; }
.failure { font-weight: 600; color: #b03a2e; white-space: nowrap; width: 1%; }
.note { color: #666; }
"""


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report shows, as the store gave it."""

    source: str  # the database, credentials masked
    stats: CrawlStats
    broken: Sequence[BrokenLink]
    by_second: Mapping[str, int]
    by_depth: Mapping[int, int]


def render_report(data: ReportData) -> str:
    """The whole HTML page."""
    stats = data.stats
    sections = [
        _summary(data),
        _rate_section(data.by_second),
        _section("status", "Status", _status_chart(stats.by_status), ""),
        _errors_section(stats.by_error),
        _broken_section(data.broken),
        _hosts_section(stats.by_host),
        _depth_section(data.by_depth),
        _robots_and_traps(stats),
        _proxies_section(stats.proxies),
    ]
    title = f"Crawl report: {data.source}"
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta http-equiv="Content-Security-Policy"'
        " content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(section for section in sections if section)
        + "\n</body></html>\n"
    )


def _section(name: str, title: str, body: str, note: str) -> str:
    paragraph = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{name}"><h2>{escape(title)}</h2>{paragraph}{body}</section>'


def _summary(data: ReportData) -> str:
    stats = data.stats
    duration = crawl_duration_s(stats)
    errors = sum(count for kind, count in stats.by_error.items() if kind != "none")
    tiles = {
        "pages": f"{stats.done:,}",
        "queued": f"{stats.queued:,}",
        "errors": f"{errors:,}",
        "broken-links": f"{len(data.broken):,}",
        "hosts": f"{len(stats.by_host):,}",
        "items": f"{stats.items:,}",
        "duration": "-" if duration is None else _duration(duration),
        "rate": f"{_rate(stats.done / duration)}/s" if duration else "-",
    }
    cells = "".join(
        f'<div><dt>{name.replace("-", " ")}</dt><dd id="{name}">{value}</dd></div>'
        for name, value in tiles.items()
    )
    span = f"{stats.first_fetched_at} to {stats.last_fetched_at}" if stats.first_fetched_at else ""
    return (
        f'<header><h1>Crawl report</h1><p class="source">{escape(data.source)}'
        f"{' · ' + escape(span) if span else ''}</p><dl class=tiles>{cells}</dl></header>"
    )


def rate_over_time(by_second: Mapping[str, int]) -> tuple[list[float], int, datetime, datetime]:
    """Pages per second in buckets of equal length (at most MAX_COLUMNS of them) from the
    first second to the last: the rates, the bucket's seconds, the first and last second."""
    seconds = {datetime.fromisoformat(second): count for second, count in by_second.items()}
    first, last = min(seconds), max(seconds)
    span = int((last - first).total_seconds()) + 1
    bucket = next(
        (size for size in BUCKETS_S if span / size <= MAX_COLUMNS), math.ceil(span / MAX_COLUMNS)
    )
    totals = [0] * math.ceil(span / bucket)
    for second, count in seconds.items():
        totals[int((second - first).total_seconds()) // bucket] += count
    return [total / bucket for total in totals], bucket, first, last


def _rate_section(by_second: Mapping[str, int]) -> str:
    if not by_second:
        return _section("rate", "Pages per second", "", "No page was fetched.")
    rates, bucket, first, last = rate_over_time(by_second)
    end = last + timedelta(seconds=1)
    times = (
        f"{first:%Y-%m-%d %H:%M:%S} UTC",
        f"{end:%H:%M:%S}" if end.date() == first.date() else f"{end:%Y-%m-%d %H:%M:%S}",
    )
    chart = time_chart(rates, title="Pages per second over time", times=times)
    note = (
        f"Pages recorded per second, averaged over {_duration(bucket)}; the highest:"
        f' <span id="peak-rate">{_rate(max(rates))}</span> pages/s.'
    )
    return _section("rate", "Pages per second", chart, note)


def _status_chart(by_status: Mapping[str, int]) -> str:
    bars = [
        Bar(status, count, STATUS_COLORS.get(status[:1], GREY))
        for status, count in by_status.items()
    ]
    return bar_chart(bars, title="Records by HTTP status") if bars else ""


def _errors_section(by_error: Mapping[str, int]) -> str:
    errors = {kind: count for kind, count in by_error.items() if kind != "none"}
    if not errors:
        return _section("errors", "Error kinds", "", "No record has an error.")
    chart = bar_chart([Bar(k, n, RED) for k, n in errors.items()], title="Records by error kind")
    note = "What went wrong, by the error field of the records (http: a status of 400 or more)."
    return _section("errors", "Error kinds", chart, note)


def _broken_section(broken: Sequence[BrokenLink]) -> str:
    if not broken:
        return _section("broken", "Broken links", "", "No broken link.")
    rows = "".join(
        f'<tr><td class="failure">{escape(failure_of(link))}</td>'
        f'<td class="url">{_link(link.url)}{_referrers(link)}</td>'
        f'<td class="number">{link.referrer_count:,}</td></tr>'
        for link in broken
    )
    table = (
        '<table id="broken-links"><thead><tr><th>Status or error</th>'
        '<th>URL, and the pages that link to it</th><th class="number">Pages</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    note = (
        "Links that lead nowhere: a status of 400 or more, or no answer (connection, DNS,"
        " timeout, TLS, a malformed answer, a redirect loop). The page a URL was first found"
        f" on comes first; up to {REFERRERS_SHOWN} pages are named."
    )
    return _section("broken", "Broken links", table, note)


def _referrers(link: BrokenLink) -> str:
    items = "".join(f"<li>from {_link(page)}</li>" for page in link.referrers)
    rest = link.referrer_count - len(link.referrers)
    more = (
        f'<p class="note">and {rest:,} more page{"s" if rest > 1 else ""}</p>' if rest > 0 else ""
    )
    return f'<ul class="referrers">{items}</ul>{more}'


def _link(url: str) -> str:
    """A crawled URL as a link to it (only http and https ones)."""
    shown = escape(url)
    if not url.startswith(("http://", "https://")):
        return shown
    return f'<a href="{shown}" rel="noreferrer">{shown}</a>'


def _hosts_section(by_host: Mapping[str, int]) -> str:
    top = list(by_host.items())[:TOP_HOSTS]
    if not top:
        return ""
    chart = bar_chart([Bar(host, count) for host, count in top], title="Records by host")
    shown = f"the {len(top)} with the most records of {len(by_host):,}"
    note = f"Records by host: {shown}." if len(by_host) > len(top) else "Records by host."
    return _section("hosts", "Top hosts", chart, note)


def _depth_section(by_depth: Mapping[int, int]) -> str:
    if not by_depth:
        return ""
    deepest = max(by_depth)
    bars = [Bar(str(depth), by_depth.get(depth, 0)) for depth in range(deepest + 1)]
    chart = column_chart(bars, title="Records by depth")
    return _section("depth", "Depth", chart, "Records by link depth from the seeds (0).")


def _robots_and_traps(stats: CrawlStats) -> str:
    rows = [
        ("robots", "URLs denied by robots.txt (never requested)", stats.by_error.get("robots", 0))
    ]
    rows += [(name, LIMITS.get(name, name), count) for name, count in stats.limits_hit.items()]
    body = "".join(
        f'<tr data-figure="{escape(name)}"><td>{escape(what)}</td>'
        f'<td class="number">{count:,}</td></tr>'
        for name, what, count in rows
    )
    note = "Links and requests the crawl left out on purpose: robots.txt, and its trap limits."
    table = f'<table id="robots-and-traps"><tbody>{body}</tbody></table>'
    return _section("robots-and-traps", "Robots and traps", table, note)


def _proxies_section(proxies: Mapping[str, ProxyFigures]) -> str:
    if not proxies:
        return ""
    rows = "".join(
        f"<tr><td>{escape(proxy)}</td>"
        + "".join(f'<td class="number">{value:,}</td>' for value in figures.as_dict().values())
        + "</tr>"
        for proxy, figures in proxies.items()
    )
    head = "".join(
        f'<th class="number">{name.replace("_", " ")}</th>' for name in ProxyFigures().as_dict()
    )
    table = f'<table id="proxies"><thead><tr><th>Proxy</th>{head}</tr></thead>{rows}</table>'
    return _section("proxies", "Proxies", table, "How each proxy did in the last run.")


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:,.1f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, second = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {second} s" if second else f"{minutes} min"
    hours, minute = divmod(minutes, 60)
    return f"{hours} h {minute} min"
