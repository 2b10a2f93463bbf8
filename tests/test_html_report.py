"""`report`: the HTML page of a real crawl, rendered in headless Chromium and held to the
figures of `stats --json` and the export of the same database; and the page's parts alone.

The Chromium test is skipped when no Chromium is installed, unless CRAWLER_REQUIRE_CHROMIUM is
set (as CI does): then it fails.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crawler.html_report import ReportData, rate_over_time, render_report
from crawler.models import BrokenLink, CrawlStats
from tests.broken_site import crawl_broken_site
from tests.chromium import chromium_binary, render
from tests.conftest import REQUIRE_CHROMIUM, SiteFactory, run_cli

# Run in the rendered page by the test (the report itself has no script): what a reader sees.
SHOWN = """(() => {
  const text = (element) => element.textContent.trim();
  const bars = (id) => {
    const labels = Array.from(document.querySelectorAll(`#${id} svg text.label`), text);
    const values = Array.from(document.querySelectorAll(`#${id} svg text.value`), text);
    return Object.fromEntries(labels.map((label, n) => [label, values[n]]));
  };
  return {
    tiles: Object.fromEntries(
      Array.from(document.querySelectorAll("dl.tiles dd"), (dd) => [dd.id, dd.innerText])),
    status: bars("status"),
    errors: bars("errors"),
    hosts: bars("hosts"),
    depth: bars("depth"),
    peak: document.getElementById("peak-rate").innerText,
    broken: Array.from(document.querySelectorAll("#broken-links tbody tr"), (row) => ({
      failure: row.cells[0].innerText,
      url: row.querySelector("td.url > a").getAttribute("href"),
      referrers: Array.from(row.querySelectorAll("ul.referrers a"), (a) => a.getAttribute("href")),
      count: row.cells[2].innerText,
    })),
    left_out: Object.fromEntries(Array.from(
      document.querySelectorAll("#robots-and-traps tr"),
      (row) => [row.dataset.figure, row.cells[1].innerText])),
    charts: Array.from(document.querySelectorAll("svg"), (svg) => {
      const box = svg.getBoundingClientRect();
      return box.width > 0 && box.height > 0;
    }),
    links: Array.from(document.querySelectorAll("a[href]"), (a) => a.getAttribute("href")),
  };
})()"""


def counts(figures: dict[str, int]) -> dict[str, str]:
    return {key: f"{value:,}" for key, value in figures.items()}


async def crawl_and_report(tmp_path: Path, serve_site: SiteFactory) -> tuple[dict[str, Any], Path]:
    """Crawl the broken site, write its report; `stats --json` and the report's path."""
    await crawl_broken_site(tmp_path, serve_site)
    written = await run_cli("report", "crawl.db", "--output", "report.html", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    stats = await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)
    return json.loads(stats.stdout), tmp_path / "report.html"


async def test_chromium_shows_the_figures_of_stats_and_the_page_fetches_nothing(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    if chromium_binary() is None:
        if REQUIRE_CHROMIUM:
            pytest.fail("CRAWLER_REQUIRE_CHROMIUM is set but no Chromium is installed")
        pytest.skip("no Chromium (apt-get install chromium; CRAWLER_REQUIRE_CHROMIUM=1 fails)")
    stats, page = await crawl_and_report(tmp_path, serve_site)
    export = await run_cli("export", "crawl.db", cwd=tmp_path)
    records = [json.loads(line) for line in export.stdout.splitlines()]

    rendered = await render(page.as_uri(), SHOWN, profile=tmp_path / "profile")

    shown = rendered.shown
    assert rendered.requested == [page.as_uri()]
    assert shown["tiles"]["pages"] == f"{stats['pages']:,}"
    assert shown["tiles"]["broken-links"] == str(len(stats["broken_links"]))
    assert shown["status"] == counts(stats["by_status"])
    assert shown["errors"] == counts({k: n for k, n in stats["by_error"].items() if k != "none"})
    assert shown["hosts"] == counts(stats["by_host"])
    assert shown["depth"] == counts(
        {str(d): n for d, n in Counter(r["depth"] for r in records).items()}
    )
    per_second = Counter(record["fetched_at"][:19] for record in records)
    assert shown["peak"] == f"{max(per_second.values()):.1f}"
    assert shown["broken"] == [
        {
            "failure": str(link["status"] or link["error"]),
            "url": link["url"],
            "referrers": link["referrers"],
            "count": str(link["referrer_count"]),
        }
        for link in stats["broken_links"]
    ]
    assert shown["left_out"] == counts(
        {"robots": stats["by_error"]["robots"], **stats["limits_hit"]}
    )
    assert len(shown["charts"]) == 5
    assert all(shown["charts"])
    crawled = {record["url"] for record in records}
    assert set(shown["links"]) <= crawled


async def test_the_report_file_holds_no_script_style_sheet_or_outside_reference(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    _, page = await crawl_and_report(tmp_path, serve_site)

    html = page.read_text(encoding="utf-8")

    assert "<script" not in html
    assert "<link" not in html
    assert " src=" not in html
    assert "url(" not in html
    assert "@import" not in html
    assert "default-src 'none'" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/[\w/]*", href) for href in hrefs)


def test_seconds_are_put_together_into_at_most_120_columns() -> None:
    by_second = {"2026-11-30T10:00:00": 30, "2026-11-30T10:00:04": 20, "2026-11-30T10:04:59": 5}

    rates, bucket, first, last = rate_over_time(by_second)

    assert (bucket, len(rates)) == (5, 60)
    assert (rates[0], rates[1], rates[-1]) == (10.0, 0.0, 1.0)
    assert (first.minute, last.minute, last.second) == (0, 4, 59)


def test_labels_and_urls_are_escaped() -> None:
    stats = CrawlStats(1, 0, {"404": 1}, {"http": 1}, {"<b>host</b>": 1}, None, None)
    hostile = 'http://a.test/"><script>alert(1)</script>'
    data = ReportData("crawl.db", stats, [BrokenLink(hostile, 404, "http", (), 0)], {}, {})

    html = render_report(data)

    assert "<script>" not in html
    assert "&lt;b&gt;host&lt;/b&gt;" in html
    assert 'href="http://a.test/&quot;&gt;&lt;script&gt;' in html
