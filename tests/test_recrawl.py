"""Recrawls: the same crawl run again fetches what may have changed, asking with If-None-Match
and If-Modified-Since; each URL's history, and `export --changes-since`. On a loopback site
whose pages change between runs, the server counting what it sent."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler import Config, Crawler, Page, Request
from crawler.changes import changes_since, since_time
from crawler.errors import ConfigError
from crawler.models import Change, PageRecord, utc_timestamp
from crawler.store import open_storage
from tests.conftest import run_cli, wait_until
from tests.recrawl_site import ChangingSite, start_changing_site

AT_ONCE = 0.001  # recrawl_after: every record is older than this by the time the run starts


@pytest.fixture
async def site() -> AsyncIterator[ChangingSite]:
    changing, runner = await start_changing_site(30)
    yield changing
    await runner.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_dsn"))
    return str(tmp_path / "crawl.db")


async def crawl(site: ChangingSite, db: str, **settings: object) -> int:
    """One run with a parser that keeps each page's title as an item; returns its pages."""
    config = Config(db=db, progress=False, allow_private_networks=True, **settings)  # type: ignore[arg-type]
    crawler = Crawler(config)

    @crawler.route()
    async def titled(page: Page) -> AsyncIterator[dict[str, object] | Request]:
        title = page.css_first("title")
        yield {"title": title.text() if title is not None else None}
        for link in page.links():
            yield page.follow(link)

    summary = await crawler.crawl([site.url("/")])
    return summary.pages


async def stored(
    db: str, since: str | None = None
) -> tuple[dict[str, PageRecord], Counter[str], list[Change]]:
    """The records by URL, the items' titles, and the changes since `since`."""
    storage = await open_storage(db, read_only=True)
    try:
        records = {record.url: record async for record in storage.iter_records()}
        titles = Counter([json.loads(item.data)["title"] async for item in storage.iter_items()])
        changes = []
        if since is not None:
            changes = [c async for c in changes_since(storage.iter_history(since), since)]
    finally:
        await storage.close()
    return records, titles, changes


async def test_a_recrawl_asks_for_each_page_only_if_it_changed(site: ChangingSite, db: str) -> None:
    first = await crawl(site, db)
    first_records, first_titles, _ = await stored(db)
    assert first == 31
    assert site.sent == {200: 31}
    assert not site.asked_if

    site.reset_counts()
    unchanged_since = utc_timestamp()
    again = await crawl(site, db, recrawl_after=AT_ONCE)
    records, titles, changes = await stored(db, unchanged_since)
    # 10 ETag and 10 Last-Modified pages answer 304; / and the 10 others send their page.
    assert site.sent == {304: 20, 200: 11}
    assert site.asked_if == {"If-None-Match": 10, "If-Modified-Since": 10}
    assert again == 31
    assert changes == []
    assert titles == first_titles
    for url, record in records.items():
        before = first_records[url]
        assert (record.status, record.sha256, record.size) == (
            before.status, before.sha256, before.size
        )  # fmt: skip
        assert str(record.fetched_at) > str(before.fetched_at)

    site.reset_counts()
    site.change(3)  # an ETag page
    site.change(4)  # a Last-Modified page
    site.change(5, "/new/5")  # a page without validators, now linking to a new page
    site.statuses[7] = 404  # a Last-Modified page, gone
    changed_since = utc_timestamp()
    await crawl(site, db, recrawl_after=AT_ONCE)
    records, titles, changes = await stored(db, changed_since)

    assert site.sent == {304: 17, 200: 14, 404: 1}
    assert {(c.url, c.change, c.status) for c in changes} == {
        (site.url("/p/3"), "changed", 200),
        (site.url("/p/4"), "changed", 200),
        (site.url("/p/5"), "changed", 200),
        (site.url("/p/7"), "disappeared", 404),
        (site.url("/new/5"), "appeared", 200),
    }
    for n in (3, 4, 5):
        assert records[site.url(f"/p/{n}")].sha256 != first_records[site.url(f"/p/{n}")].sha256
        assert titles[f"page {n} version 1"] == 1
        assert f"page {n} version 0" not in titles
    assert records[site.url("/p/7")].status == 404
    assert "page 7 version 0" not in titles  # a page that is gone keeps no items
    assert len(records) == 32
    assert sum(titles.values()) == 31  # /new/5 has no title: None
    _, _, since_first = await stored(db, unchanged_since)
    assert len(since_first) == 5  # the unchanged rerun adds nothing


async def test_a_rerun_without_recrawl_or_within_its_period_fetches_nothing(
    site: ChangingSite, tmp_path: Path
) -> None:
    db = str(tmp_path / "crawl.db")
    await crawl(site, db)
    site.reset_counts()

    assert await crawl(site, db) == 0
    assert await crawl(site, db, recrawl_after="1h") == 0
    assert site.log == []


async def test_a_refetch_without_an_answer_keeps_the_record_and_its_items(
    site: ChangingSite, tmp_path: Path
) -> None:
    db = str(tmp_path / "crawl.db")
    await crawl(site, db)
    before, titles_before, _ = await stored(db)
    site.statuses[3] = 503  # an ETag page, down for maintenance
    site.statuses[5] = 503  # a page without validators
    site.reset_counts()
    since = utc_timestamp()

    await crawl(site, db, recrawl_after=AT_ONCE, retries=0)
    after, titles_after, changes = await stored(db, since)

    assert site.sent[503] == 2
    for n in (3, 5):
        url = site.url(f"/p/{n}")
        assert after[url] == before[url]  # fetched_at too: the next recrawl tries it first
    assert titles_after == titles_before
    assert changes == []


async def test_a_recrawl_killed_midway_resumes_without_fetching_a_page_twice(
    site: ChangingSite, tmp_path: Path
) -> None:
    site.pages = 200
    site.delay_s = 0.01
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.url("/") + "\n")
    options = ("--db", "crawl.db", "--no-progress", "--concurrency", "4", "--per-host", "4")
    assert (await run_cli(str(seeds), *options, cwd=tmp_path)).returncode == 0
    first = await exported(tmp_path)
    site.change(3)
    site.statuses[7] = 410
    started = utc_timestamp()
    site.reset_counts()

    command = [sys.executable, "-m", "crawler", str(seeds), *options, "--recrawl-after", "0.001"]
    process = await asyncio.create_subprocess_exec(*command, cwd=tmp_path)
    await wait_until(lambda: len(site.log) >= 80 or process.returncode is not None)
    process.kill()
    assert await process.wait() == -9
    at_kill = await exported(tmp_path)
    refetched = {url for url in first if at_kill[url]["fetched_at"] != first[url]["fetched_at"]}
    asked_before_kill = Counter(site.log)
    site.log.clear()
    resumed = await run_cli(str(seeds), *options, "--recrawl-after", "1h", cwd=tmp_path)
    final = await exported(tmp_path)
    changes = await run_cli("export", "crawl.db", "--changes-since", started, cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    assert 0 < len(refetched) < len(first)  # the kill landed mid-recrawl
    asked_after = Counter(site.log)
    assert not {site.url(path) for path in asked_after} & refetched  # none asked for again
    every = asked_before_kill + asked_after
    assert {site.url(path) for path in every} == set(first)  # each asked for, once or
    twice = {path for path, n in every.items() if n > 1}  # twice if in flight at the kill
    assert all(site.url(path) not in refetched for path in twice)
    assert len(twice) <= 8
    assert set(final) == set(first)
    assert all(str(final[url]["fetched_at"]) > str(first[url]["fetched_at"]) for url in first)
    assert [json.loads(line) for line in changes.stdout.splitlines()] == [
        {"url": site.url("/p/3"), "change": "changed", "at": final[site.url("/p/3")]["fetched_at"],
         "status": 200},
        {"url": site.url("/p/7"), "change": "disappeared",
         "at": final[site.url("/p/7")]["fetched_at"], "status": 410},
    ]  # fmt: skip


async def exported(directory: Path) -> dict[str, dict[str, object]]:
    result = await run_cli("export", "crawl.db", cwd=directory)
    assert result.returncode == 0, result.stderr
    return {record["url"]: record for record in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--changes-since", "yesterday"], "expected an ISO date or time"),
        (["--changes-since", "1d", "--items"], "--changes-since writes JSON Lines or CSV"),
        (["--changes-since", "1d", "--format", "warc"], "--changes-since writes JSON Lines"),
    ],
)
async def test_bad_changes_since_arguments_are_one_line(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "seeds.txt").write_text("http://127.0.0.1:9/\n")
    await run_cli("seeds.txt", "--db", "crawl.db", "--no-progress", "--retries", "0", cwd=tmp_path)

    result = await run_cli("export", "crawl.db", *arguments, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_recrawl_after_reads_durations() -> None:  # as TOML, the environment and flags give it
    given: dict[object, float] = {"12h": 12 * 3600, "7d": 7 * 86400, "90": 90, 1.5: 1.5}
    for text, seconds in given.items():
        assert Config(recrawl_after=text).recrawl_after == seconds  # type: ignore[arg-type]
    assert Config().recrawl_after is None
    for bad in ("0", "-1h", "12 hours", "1y", 0):
        with pytest.raises(ConfigError, match="recrawl_after"):
            Config(recrawl_after=bad)  # type: ignore[arg-type]


async def test_max_pages_bounds_the_records_a_recrawl_holds_not_its_refetches(
    site: ChangingSite, db: str
) -> None:
    assert await crawl(site, db, max_pages=20) == 20
    site.reset_counts()

    refetched = await crawl(site, db, max_pages=20, recrawl_after=AT_ONCE)
    records, _, _ = await stored(db)
    assert refetched == 20
    assert len(records) == 20
    assert sum(site.sent.values()) == 20  # the same 20 pages, none new

    site.reset_counts()
    grown = await crawl(site, db, max_pages=25, recrawl_after=AT_ONCE)
    records, _, _ = await stored(db)
    assert grown == 25  # 20 refetched, 5 new
    assert len(records) == 25


def test_changes_since_takes_a_time_or_a_span_before_now() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert since_time("24h", now) == "2026-11-29T12:00:00.000Z"
    assert since_time("2026-11-30", now) == "2026-11-30T00:00:00.000Z"
    assert since_time("2026-11-30T06:00:00+01:00", now) == "2026-11-30T05:00:00.000Z"
    assert since_time("2026-11-30T06:00:00.5Z", now) == "2026-11-30T06:00:00.500Z"
    for bad in ("yesterday", "2026", "12 hours", "", "-1d"):
        with pytest.raises(ValueError, match="expected an ISO date or time"):
            since_time(bad, now)
