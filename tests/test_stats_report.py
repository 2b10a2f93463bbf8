"""`stats`: the counts and the broken links of a real crawl, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.models import BrokenLink, CrawlStats
from crawler.stats_report import format_stats
from tests.broken_site import crawl_broken_site
from tests.conftest import SiteFactory, run_cli


async def test_stats_json_lists_broken_links_with_every_page_that_links_to_them(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await crawl_broken_site(tmp_path, serve_site)

    result = await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)

    stats = json.loads(result.stdout)
    assert stats["broken_links"] == [
        {
            "url": site.url("/gone"),
            "status": 404,
            "error": "http",
            "referrers": [site.url(path) for path in ("/start", "/a", "/b", "/c")],
            "referrer_count": 4,
        },
        {
            "url": site.down,
            "status": None,
            "error": "connection",
            "referrers": [site.url("/start")],
            "referrer_count": 1,
        },
        {
            "url": site.url("/error"),
            "status": 500,
            "error": "http",
            "referrers": [site.url("/a")],
            "referrer_count": 1,
        },
    ]
    assert stats["by_error"] == {"none": 4, "http": 2, "connection": 1, "robots": 1}
    assert stats["limits_hit"] == {"repeated_segment": 1}


async def test_stats_text_shows_each_broken_link_under_its_status_then_its_referrers(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await crawl_broken_site(tmp_path, serve_site)

    result = await run_cli("stats", "crawl.db", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "broken:    3 links" in result.stdout.splitlines()
    broken = result.stdout.split("broken links (status or error, URL, then the pages that")[1]
    assert broken.splitlines()[1:] == [
        f"  404         {site.url('/gone')}",
        f"              from {site.url('/start')}",
        f"              from {site.url('/a')}",
        f"              from {site.url('/b')}",
        f"              from {site.url('/c')}",
        f"  connection  {site.down}",
        f"              from {site.url('/start')}",
        f"  500         {site.url('/error')}",
        f"              from {site.url('/a')}",
    ]


def test_empty_sections_are_left_out_and_unnamed_referrers_counted() -> None:
    stats = CrawlStats(1, 0, {"404": 1}, {"http": 1}, {"a.test": 1}, None, None)
    gone = BrokenLink("http://a.test/gone", 404, "http", ("http://a.test/",), 13)

    text = format_stats(stats, [gone])

    assert "links dropped by limit" not in text
    assert "proxy" not in text
    assert text.splitlines()[-3:] == [
        "  404  http://a.test/gone",
        "       from http://a.test/",
        "       and 12 more pages",
    ]
