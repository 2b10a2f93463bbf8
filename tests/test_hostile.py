"""Hostile servers: every misbehaviour gets its error kind, and the crawl still ends, soon and
in bounded memory. The real CLI crawls a raw TCP server that misbehaves on purpose."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_cli_measured
from tests.hostile import (
    HostileServer,
    bad_chunks,
    binary_page,
    bomb,
    calendar,
    endless,
    huge_headers,
    long_link,
    many_links,
    never_answers,
    redirect_to,
    reset_mid_body,
    short_body,
    slow_loris,
)

TIMEOUT_S = 2
MAX_DEPTH = 25  # what ends a calendar trap: it never makes a long, deep or repeating path
# What each path must be recorded as: (status, error kind).
EXPECTED: dict[str, tuple[int | None, str | None]] = {
    "/slow-loris": (200, "timeout"),  # a byte every 100 ms: only the total timeout ends it
    "/never": (None, "timeout"),  # accepts, reads the request, never answers
    "/reset": (200, "connection"),  # RST halfway through the body
    "/short": (200, "connection"),  # Content-Length 1000, 15 bytes, then closed
    "/bad-chunks": (None, "protocol"),  # a chunk size that is not hexadecimal
    "/huge-headers": (None, "protocol"),  # a 200 KB header line
    "/endless": (200, "too_large"),  # chunked, never ends: cut at max_size
    "/bomb": (200, "too_large"),  # 200 KiB of gzip that inflates to 200 MiB
    "/binary.html": (200, None),  # random bytes served as text/html: recorded, parsed safely
    "/many-links": (200, None),  # 100,000 links: the first 1,000 followed, the rest counted
    "/long-link": (200, None),  # its one link is 10,000 characters: dropped and counted
    "/loop-a": (302, "redirect_loop"),  # /loop-a -> /loop-b -> /loop-a
    "/calendar/2026/11": (200, None),  # links to the next month, forever
}


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    server = HostileServer(
        {
            "/slow-loris": slow_loris,
            "/never": never_answers,
            "/reset": reset_mid_body,
            "/short": short_body,
            "/bad-chunks": bad_chunks,
            "/huge-headers": huge_headers,
            "/endless": endless,
            "/bomb": bomb,
            "/binary.html": binary_page(),
            "/many-links": many_links(100_000),
            "/long-link": long_link(10_000),
            "/loop-a": redirect_to("/loop-b"),
            "/loop-b": redirect_to("/loop-a"),
            "/calendar/*": calendar,
        }
    )
    await server.start()
    yield server
    await server.close()


async def test_hostile_servers_get_their_error_kinds_and_the_crawl_ends_in_bounded_memory(
    tmp_path: Path, hostile: HostileServer
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("".join(hostile.url(path) + "\n" for path in EXPECTED))

    run = await run_cli_measured(
        str(seeds),
        *("--db", "crawl.db", "--no-progress", "--timeout", str(TIMEOUT_S), "--retries", "0"),
        *("--max-depth", str(MAX_DEPTH)),
        cwd=tmp_path,
    )
    records = {
        str(record["url"]).removeprefix(hostile.url("")): record
        for record in map(
            json.loads, (await run_cli("export", "crawl.db", cwd=tmp_path)).stdout.splitlines()
        )
    }
    stats = json.loads((await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)).stdout)

    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert {path: (records[path]["status"], records[path]["error"]) for path in EXPECTED} == (
        EXPECTED
    )
    assert stats["limits_hit"]["links_per_page"] == 99_000
    assert stats["limits_hit"]["url_too_long"] == 1
    assert sum(path.startswith("/many/") for path in records) == 1_000
    calendar_pages = [path for path in records if path.startswith("/calendar/")]
    assert len(calendar_pages) == MAX_DEPTH + 1
    # Bounded: every slow server costs at most the timeout, and bodies never pile up in memory
    # (the bomb inflates to 200 MiB, the endless body never ends; max_size is 10 MiB).
    assert run.elapsed_s < 60
    assert run.peak_rss_mb < 200


async def test_a_refused_port_is_a_connection_error(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")

    run = await run_cli(str(seeds), "--db", "crawl.db", "--retries", "0", cwd=tmp_path)
    export = await run_cli("export", "crawl.db", cwd=tmp_path)
    [record] = map(json.loads, export.stdout.splitlines())

    assert run.returncode == 0
    assert (record["status"], record["error"]) == (None, "connection")
