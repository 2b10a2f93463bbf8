"""Several crawler processes sharing one crawl through a real PostgreSQL server: every page
recorded once, per-host limits held across processes, a killed process's hosts taken over, a
stopped fleet resumed."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import Site, SiteFactory, run_cli, wait_until

HOSTS = [f"127.0.0.{n}" for n in range(2, 10)]
LEASE = ("--lease-timeout", "2")  # a dead process's hosts are taken over within seconds


async def serve_hosts(serve_site: SiteFactory, pages: int, delay_s: float) -> list[Site]:
    return [await serve_site(pages, host=host, delay_s=delay_s) for host in HOSTS]


def write_seeds(tmp_path: Path, sites: list[Site]) -> Path:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("".join(site.url("/") + "\n" for site in sites))
    return seeds


async def exported_urls(tmp_path: Path, dsn: str) -> list[str]:
    export = await run_cli("export", dsn, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    return [str(json.loads(line)["url"]) for line in export.stdout.splitlines()]


def expected(sites: list[Site]) -> list[str]:
    return sorted(url for site in sites for url in site.expected_urls())


def pages_per_process(stderr: str) -> list[int]:
    return [int(n) for n in re.findall(r"crawl finished: (\d+) pages", stderr)]


@pytest.mark.parametrize("processes", [2, 4])
async def test_processes_share_a_crawl_each_page_once_within_per_host_limits(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str, processes: int
) -> None:
    sites = await serve_hosts(serve_site, 40, delay_s=0.01)
    seeds = write_seeds(tmp_path, sites)

    result = await run_cli(
        str(seeds), "--db", postgres_dsn, "--processes", str(processes), "--per-host", "2",
        "--concurrency", "4", "--no-progress", *LEASE, cwd=tmp_path, timeout_s=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    urls = await exported_urls(tmp_path, postgres_dsn)
    assert sorted(urls) == expected(sites)  # every page, each once
    assert all(max(site.hits.values()) == 1 for site in sites)  # none fetched twice
    assert max(site.in_flight.most for site in sites) <= 2  # per host, across processes
    shares = pages_per_process(result.stderr)
    assert len(shares) == processes
    assert sum(shares) == len(urls)
    # A process holds only the hosts its concurrency can keep busy (twice 4 / 2), so the
    # 8 hosts were shared out.
    assert sum(1 for share in shares if share > 0) >= 2


async def holders(dsn: str) -> set[int]:
    """The process ids of the workers holding hosts now (a worker id is host:pid:random)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT DISTINCT holder FROM hosts WHERE holder IS NOT NULL")
    finally:
        await connection.close()
    return {int(row["holder"].split(":")[1]) for row in rows}


@pytest.mark.parametrize("survivors", [1, 2])
async def test_a_killed_process_leaves_its_hosts_to_the_others_and_nothing_is_lost(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str, survivors: int
) -> None:
    sites = await serve_hosts(serve_site, 80, delay_s=0.02)
    seeds = write_seeds(tmp_path, sites)
    command = [sys.executable, "-m", "crawler", str(seeds), "--db", postgres_dsn,
               "--no-progress", "--per-host", "2", "--concurrency", "4", *LEASE]  # fmt: skip
    processes = [
        await asyncio.create_subprocess_exec(*command, cwd=tmp_path, stderr=asyncio.subprocess.PIPE)
        for _ in range(survivors + 1)
    ]
    await wait_until(lambda: sum(sum(site.hits.values()) for site in sites) >= 120)
    held_by = await holders(postgres_dsn)
    victim = next(process for process in processes if process.pid in held_by)
    others = [process for process in processes if process is not victim]
    for process in others:  # paused, so what was recorded at the kill can be read exactly
        process.send_signal(signal.SIGSTOP)
    victim.kill()
    await victim.wait()
    recorded_at_kill = set(await exported_urls(tmp_path, postgres_dsn))
    served_at_kill = {site.host: len(site.log) for site in sites}
    for process in others:
        process.send_signal(signal.SIGCONT)

    ended = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in others)), 90)

    assert [process.returncode for process in others] == [0] * survivors, ended
    urls = await exported_urls(tmp_path, postgres_dsn)
    assert sorted(urls) == expected(sites)  # the killed process's hosts were finished
    fetched_after = {
        site.url(path) for site in sites for path in site.log[served_at_kill[site.host] :]
    }
    assert not fetched_after & recorded_at_kill  # nothing recorded was fetched again
    # Fetched twice: only what the killed process had fetched but not yet recorded.
    assert max(hits for site in sites for hits in site.hits.values()) <= 2


async def test_one_process_crawls_more_hosts_than_it_may_hold_at_once(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str
) -> None:
    sites = await serve_hosts(serve_site, 1, delay_s=0.0)
    seeds = write_seeds(tmp_path, sites)

    result = await run_cli(
        str(seeds), "--db", postgres_dsn, "--no-progress", "--concurrency", "2",
        "--per-host", "1", cwd=tmp_path,
    )  # fmt: skip  # it may hold twice 2 / 1 = 4 of the 8 hosts at a time

    assert result.returncode == 0, result.stderr
    assert sorted(await exported_urls(tmp_path, postgres_dsn)) == expected(sites)


@pytest.mark.parametrize("processes", [1, 2])
async def test_the_page_budget_of_a_host_holds_across_processes(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str, processes: int
) -> None:
    sites = await serve_hosts(serve_site, 30, delay_s=0.005)
    seeds = write_seeds(tmp_path, sites)

    result = await run_cli(
        str(seeds), "--db", postgres_dsn, "--no-progress", "--processes", str(processes),
        "--max-pages-per-host", "5", "--concurrency", "4", "--per-host", "2", *LEASE,
        cwd=tmp_path, timeout_s=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    urls = await exported_urls(tmp_path, postgres_dsn)
    per_host = {site.host: sum(url.startswith(site.origin) for url in urls) for site in sites}
    assert per_host == {site.host: 5 for site in sites}


async def test_a_stopped_fleet_resumes_without_fetching_a_page_twice(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str
) -> None:
    sites = await serve_hosts(serve_site, 60, delay_s=0.02)
    seeds = write_seeds(tmp_path, sites)
    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler", str(seeds), "--db", postgres_dsn, "--processes", "2",
        "--no-progress", "--per-host", "2", "--concurrency", "4", *LEASE,
        cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await wait_until(lambda: sum(sum(site.hits.values()) for site in sites) >= 60)
    fleet.send_signal(signal.SIGTERM)
    _, stopped = await asyncio.wait_for(fleet.communicate(), 30)

    rerun = await run_cli(
        str(seeds), "--db", postgres_dsn, "--processes", "2", "--no-progress", *LEASE,
        cwd=tmp_path, timeout_s=120,
    )  # fmt: skip

    assert fleet.returncode == 143, stopped.decode()
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(await exported_urls(tmp_path, postgres_dsn)) == expected(sites)
    assert all(max(site.hits.values()) == 1 for site in sites)


async def test_processes_need_a_database_server(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")

    result = await run_cli(str(seeds), "--db", "crawl.db", "--processes", "2", cwd=tmp_path)

    assert result.returncode == 2
    assert "--processes needs a postgresql:// database" in result.stderr
    assert not (tmp_path / "crawl.db").exists()
