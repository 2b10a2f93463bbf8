"""The real CLI on a real PostgreSQL server: the same crawl, export and stats as on SQLite,
resume after a stop, and the password kept out of everything printed."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import SiteFactory, run_cli, wait_until
from tests.postgres_server import PASSWORD

FIELDS_THAT_DO_NOT_DEPEND_ON_TIMING = ("url", "final_url", "status", "content_type", "size")


def seeds_file(tmp_path: Path, *urls: str) -> Path:
    path = tmp_path / "seeds.txt"
    path.write_text("".join(f"{url}\n" for url in urls))
    return path


async def crawl_export(tmp_path: Path, seeds: Path, db: str) -> list[dict[str, object]]:
    crawl = await run_cli(str(seeds), "--db", db, "--no-progress", cwd=tmp_path)
    assert crawl.returncode == 0, crawl.stderr
    assert PASSWORD not in crawl.stderr + crawl.stdout
    export = await run_cli("export", db, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    return [json.loads(line) for line in export.stdout.splitlines()]


def comparable(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(tuple(r[f] for f in FIELDS_THAT_DO_NOT_DEPEND_ON_TIMING) for r in records)


async def test_a_crawl_on_postgresql_records_what_the_same_crawl_on_sqlite_does(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str
) -> None:
    site = await serve_site(120)
    seeds = seeds_file(tmp_path, site.url("/"), site.url("/missing"))

    on_sqlite = await crawl_export(tmp_path, seeds, "crawl.db")
    hits_after_sqlite = sum(site.hits.values())
    on_postgres = await crawl_export(tmp_path, seeds, postgres_dsn)

    assert len(on_postgres) == 122
    assert comparable(on_postgres) == comparable(on_sqlite)
    assert sum(site.hits.values()) == 2 * hits_after_sqlite  # each URL once per crawl
    sqlite_stats = json.loads((await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)).stdout)
    stats = await run_cli("stats", postgres_dsn, "--json", cwd=tmp_path)
    postgres_stats = json.loads(stats.stdout)
    for key in ("pages", "queued", "by_status", "by_error", "by_host", "limits_hit"):
        assert postgres_stats[key] == sqlite_stats[key], key
    assert PASSWORD not in stats.stdout + stats.stderr


async def test_a_stopped_crawl_on_postgresql_resumes_without_fetching_anything_twice(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str
) -> None:
    site = await serve_site(300, delay_s=0.01)
    seeds = seeds_file(tmp_path, site.url("/"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler", str(seeds), "--db", postgres_dsn, "--no-progress",
        "--concurrency", "4", cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await wait_until(lambda: sum(site.hits.values()) >= 40)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)

    rerun = await run_cli(str(seeds), "--db", postgres_dsn, "--no-progress", cwd=tmp_path)
    records = [
        json.loads(line)
        for line in (await run_cli("export", postgres_dsn, cwd=tmp_path)).stdout.splitlines()
    ]

    assert process.returncode == 143, stderr.decode()
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(str(r["url"]) for r in records) == sorted(site.expected_urls())
    assert max(site.hits.values()) == 1
    assert PASSWORD not in stderr.decode() + rerun.stderr


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://crawler:{PASSWORD}@127.0.0.1:1/crawl",
        f"postgresql://127.0.0.1:1/crawl?user=crawler&password={PASSWORD}",
        f"postgresql://crawler:{PASSWORD}@127.0.0.1:99999/crawl",  # no such port
        f"postgresql://crawler:{PASSWORD}/x#y@127.0.0.1:1/crawl",  # a password to confuse parsers
    ],
)
async def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(
    tmp_path: Path, dsn: str
) -> None:
    seeds = seeds_file(tmp_path, "http://127.0.0.1:9/")

    crawl = await run_cli(str(seeds), "--db", dsn, "--no-progress", cwd=tmp_path)
    stats = await run_cli("stats", dsn, cwd=tmp_path)

    for result in (crawl, stats):
        assert result.returncode == 2
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("crawler: error: cannot open database postgresql://")
        assert "***" in last
        assert PASSWORD not in result.stderr
        assert "x#y" not in result.stderr
