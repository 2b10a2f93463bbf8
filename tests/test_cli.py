"""The real command line as a subprocess: crawl, export, stats, errors and exit codes, resume."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from crawler import cli, commands
from crawler.config_sources import load_config
from crawler.models import RECORD_FIELDS
from crawler.report_command import report_parser
from tests.conftest import Site, SiteFactory, link_page, run_cli, run_cli_measured, wait_until


def write_seeds(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "seeds.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def crawl_command(seeds: Path, *options: str) -> list[str]:
    """`python -m crawler SEEDS --db crawl.db --no-progress OPTIONS`, to start by hand."""
    return [
        sys.executable,
        "-m",
        "crawler",
        str(seeds),
        "--db",
        "crawl.db",
        "--no-progress",
        *options,
    ]


def read_jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


async def crawl_and_export(tmp_path: Path, site: Site, *options: str) -> list[dict[str, object]]:
    seeds = write_seeds(tmp_path, site.url("/"))
    crawl = await run_cli(str(seeds), "--db", "crawl.db", "--no-progress", *options, cwd=tmp_path)
    assert crawl.returncode == 0, crawl.stderr
    export = await run_cli("export", "crawl.db", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    return read_jsonl(export.stdout)


async def test_cli_crawl_exports_one_record_per_page_with_every_field(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(150)

    records = await crawl_and_export(tmp_path, site)

    assert sorted(str(r["url"]) for r in records) == sorted(site.expected_urls())
    assert all(tuple(record) == RECORD_FIELDS for record in records)
    first = records[0]
    assert first["url"] == site.url("/")
    assert first["final_url"] == site.url("/")
    assert (first["status"], first["depth"], first["parent"], first["error"]) == (
        200,
        0,
        None,
        None,
    )
    assert isinstance(first["elapsed_ms"], int)
    assert first["retries"] == 0


async def test_export_csv_has_the_same_columns_and_rows(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(20)
    records = await crawl_and_export(tmp_path, site)

    export = await run_cli(
        "export", "crawl.db", "--format", "csv", "--output", "out.csv", cwd=tmp_path
    )

    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert tuple(rows[0]) == RECORD_FIELDS
    assert [row["url"] for row in rows] == [record["url"] for record in records]
    assert rows[0]["parent"] == ""


async def test_an_exported_file_gets_the_mode_a_new_file_would_or_keeps_its_own(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(1)
    await run_cli(str(write_seeds(tmp_path, site.url("/"))), "--db", "c.db", cwd=tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    (tmp_path / "kept.jsonl").write_text("")
    (tmp_path / "kept.jsonl").chmod(0o640)

    for output in ("new.jsonl", "kept.jsonl"):
        result = await run_cli("export", "c.db", "--output", output, cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    assert (tmp_path / "new.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert (tmp_path / "kept.jsonl").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "kept.jsonl").read_text() == (tmp_path / "new.jsonl").read_text()


async def test_seeds_from_stdin(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(3)

    result = await run_cli(
        "-", "--db", "crawl.db", "--no-progress", cwd=tmp_path, stdin=site.url("/").encode()
    )

    assert result.returncode == 0, result.stderr
    assert len(site.hits) == 4


@pytest.mark.parametrize("name", ["export", "stats", "crawl"])
async def test_a_seeds_file_named_like_a_command_is_crawled_with_crawl(
    tmp_path: Path, serve_site: SiteFactory, name: str
) -> None:
    site = await serve_site(2)
    (tmp_path / name).write_text(site.url("/") + "\n")

    ambiguous = await run_cli(name, cwd=tmp_path)
    explicit = await run_cli("crawl", name, "--db", "crawl.db", "--no-progress", cwd=tmp_path)
    by_path = await run_cli(f"./{name}", "--db", "crawl.db", "--no-progress", cwd=tmp_path)

    assert ambiguous.returncode == 2
    assert f"run 'crawler crawl {name}'" in ambiguous.stderr
    assert (explicit.returncode, by_path.returncode) == (0, 0), explicit.stderr + by_path.stderr
    assert len(site.hits) == 3  # the second crawl found everything recorded


KUBERNETES_SERVICE_VARIABLES = {  # what Kubernetes puts in every pod for a Service "crawler"
    "CRAWLER_SERVICE_HOST": "10.96.0.11",
    "CRAWLER_SERVICE_PORT": "80",
    "CRAWLER_SERVICE_PORT_HTTP": "80",
    "CRAWLER_PORT": "tcp://10.96.0.11:80",
    "CRAWLER_PORT_80_TCP": "tcp://10.96.0.11:80",
    "CRAWLER_PORT_80_TCP_PROTO": "tcp",
    "CRAWLER_PORT_80_TCP_PORT": "80",
    "CRAWLER_PORT_80_TCP_ADDR": "10.96.0.11",
}


async def test_a_pod_beside_a_service_named_crawler_crawls_and_warns(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3)
    seeds = write_seeds(tmp_path, site.url("/"))

    result = await run_cli(
        str(seeds), "--db", "crawl.db", "--no-progress", "--log-format", "json",
        cwd=tmp_path, env={**KUBERNETES_SERVICE_VARIABLES, "CRAWLER_CONCURENCY": "2"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    warnings = [str(e["msg"]) for e in read_jsonl(result.stderr) if e["level"] == "warning"]
    assert len(warnings) == len(KUBERNETES_SERVICE_VARIABLES) + 1
    assert all("names no setting: ignored" in warning for warning in warnings)
    assert "did you mean CRAWLER_CONCURRENCY?" in " ".join(warnings)
    assert len(site.hits) == 4


async def test_invalid_seed_lines_are_reported_with_line_numbers_and_skipped(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(0)
    seeds = write_seeds(tmp_path, "# comment", "", "  " + site.url("/") + "  ", "ftp://x/", "nope")

    result = await run_cli(str(seeds), "--db", "crawl.db", "--no-progress", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "seeds.txt:4: not an absolute http(s) URL" in result.stderr
    assert "seeds.txt:5: not an absolute http(s) URL" in result.stderr
    assert site.hits == {"/": 1, "/p/0": 1}


async def test_a_million_seeds_are_streamed_into_the_store_not_loaded_at_once(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(10)
    with (tmp_path / "seeds.txt").open("w") as seeds:
        seeds.writelines(f"{site.origin}/p/{n}\n" for n in range(1_000_000))
        seeds.write("\0\0 binary garbage \xff\n")

    run = await run_cli_measured(
        "seeds.txt", "--db", "crawl.db", "--no-progress", "--max-pages", "5", cwd=tmp_path
    )
    stats = json.loads((await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)).stdout)

    assert run.returncode == 0, run.stderr
    assert "1000000 seeds read, 1000000 of them new" in run.stderr
    assert "seeds.txt:1000001: not an absolute http(s) URL" in run.stderr
    assert stats["pages"] + stats["queued"] == 1_000_001  # the seeds and the site's root
    # Held at once, a million parsed seeds take several hundred MB; streamed, the crawler
    # stays near its usual size.
    assert run.peak_rss_mb < 120


@pytest.mark.parametrize(
    ("arguments", "suggestion"),
    [
        (["seeds.txt", "--concurency", "3"], "--concurrency"),
        (["seeds.txt", "--max-pgaes=10"], "--max-pages"),
        (["export", "c.db", "--format-csv"], "--format"),
        (["stats", "c.db", "--jsn"], "--json"),
        (["report", "c.db", "--outptu", "r.html"], "--output"),
    ],
)
async def test_an_unknown_option_suggests_the_closest(
    tmp_path: Path, arguments: list[str], suggestion: str
) -> None:
    result = await run_cli(*arguments, cwd=tmp_path)

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("crawler")
    assert last.endswith(f"; did you mean {suggestion}?")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "seeds file not found"),
        ("# only a comment\n\n", "no valid seed URL"),
        ("", "no valid seed URL"),
        ("example.com\n/relative\n", "no valid seed URL"),
        (os.urandom(300_000).decode("latin-1"), "no valid seed URL"),  # binary, few newlines
        ("http://a.test/" + "x" * 200_000 + "\n", "no valid seed URL"),  # one huge line
    ],
)
async def test_unusable_seeds_exit_2_with_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "seeds.txt").write_text(content, encoding="latin-1")

    result = await run_cli("seeds.txt", "--db", "crawl.db", cwd=tmp_path)

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("crawler: error: ")
    assert message in last
    assert "Traceback" not in result.stderr
    assert "crawl started" not in result.stderr
    assert not (tmp_path / "crawl.db").exists()  # nothing made for a crawl that cannot start


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--concurrency", "0"], "'concurrency' from --concurrency: must be >= 1"),
        (["--concurrency", "lots"], "'concurrency' from --concurrency: expected a whole number"),
        (["--scope", "planet"], "'scope' from --scope: must be one of host, domain, any"),
        (["--deny", "("], "'deny' from --deny: invalid regular expression"),
        (["--config", "missing.toml"], "config file not found: missing.toml"),
    ],
)
async def test_bad_settings_exit_2_naming_the_setting(
    tmp_path: Path, options: list[str], message: str
) -> None:
    seeds = write_seeds(tmp_path, "http://127.0.0.1:1/")

    result = await run_cli(str(seeds), *options, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_help_lists_every_option_with_its_default(tmp_path: Path) -> None:
    result = await run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    for option in (
        "--db",
        "--config",
        "--concurrency",
        "--per-host",
        "--delay",
        "--max-pages",
        "--max-depth",
        "--scope",
        "--allow",
        "--deny",
        "--timeout",
        "--user-agent",
        "--max-size",
        "--log-format",
        "--no-progress",
    ):
        assert option in help_text
    assert "(default: 64)" in help_text
    assert "(default: storage/crawl.db)" in help_text


async def test_version(tmp_path: Path) -> None:
    result = await run_cli("--version", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stdout.strip().startswith("crawler 0.")


async def test_stats_counts_by_status_and_error(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(10)
    seeds = write_seeds(tmp_path, site.url("/"), site.url("/p/99"))
    crawl = await run_cli(str(seeds), "--db", "crawl.db", "--no-progress", cwd=tmp_path)
    assert crawl.returncode == 0, crawl.stderr

    result = await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)

    stats = json.loads(result.stdout)
    assert stats["pages"] == 12
    assert stats["by_status"] == {"200": 11, "404": 1}
    assert stats["by_error"] == {"none": 11, "http": 1}
    assert stats["by_host"] == {f"127.0.0.1:{site.port}": 12}
    text = await run_cli("stats", "crawl.db", cwd=tmp_path)
    assert "pages:     12" in text.stdout


@pytest.mark.parametrize("command", ["export", "stats"])
async def test_reading_a_missing_or_foreign_database_exits_2(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.db").write_text("these are not the pages you are looking for" * 100)

    missing = await run_cli(command, "missing.db", cwd=tmp_path)
    foreign = await run_cli(command, "notes.db", cwd=tmp_path)

    assert missing.returncode == 2
    assert "database not found: missing.db" in missing.stderr
    assert foreign.returncode == 2
    assert "notes.db" in foreign.stderr
    assert "Traceback" not in foreign.stderr
    assert not (tmp_path / "missing.db").exists()


async def test_json_logs_are_one_object_per_line(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(2)
    seeds = write_seeds(tmp_path, site.url("/"))

    result = await run_cli(
        str(seeds), "--db", "crawl.db", "--log-format", "json", "--no-progress", cwd=tmp_path
    )

    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries[-1]["msg"].startswith("crawl finished")
    assert entries[-1]["pages"] == 3
    assert entries[-1]["level"] == "info"


async def test_settings_come_from_env_and_toml_with_flags_winning(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(100)
    seeds = write_seeds(tmp_path, site.url("/"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "crawler.toml").write_text('max_pages = 5\ndb = "from-file.db"\n')

    from_file = await run_cli(str(seeds), "--no-progress", cwd=tmp_path)
    env_process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crawler",
        str(seeds),
        "--max-pages",
        "9",
        "--no-progress",
        cwd=tmp_path,
        env={"CRAWLER_DB": "from-env.db", "CRAWLER_MAX_PAGES": "7", "PATH": ""},
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(env_process.communicate(), 60)

    assert from_file.returncode == 0
    assert env_process.returncode == 0
    file_records = read_jsonl((await run_cli("export", "from-file.db", cwd=tmp_path)).stdout)
    env_records = read_jsonl((await run_cli("export", "from-env.db", cwd=tmp_path)).stdout)
    assert len(file_records) == 5
    assert len(env_records) == 9


async def test_sigterm_stops_cleanly_and_a_rerun_finishes_without_refetching(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(200, delay_s=0.03)
    seeds = write_seeds(tmp_path, site.url("/"))
    command = crawl_command(seeds, "--concurrency", "4")

    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    await wait_until(lambda: sum(site.hits.values()) >= 40)
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    first_run = sum(site.hits.values())
    rerun = await run_cli(str(seeds), "--db", "crawl.db", "--no-progress", cwd=tmp_path)
    records = read_jsonl((await run_cli("export", "crawl.db", cwd=tmp_path)).stdout)

    assert process.returncode == 143, stderr.decode()
    assert 40 <= first_run < 201
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(str(r["url"]) for r in records) == sorted(site.expected_urls())
    assert max(site.hits.values()) == 1


async def test_after_kill_9_a_rerun_records_every_page_once_and_refetches_no_recorded_one(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(200, delay_s=0.03)
    seeds = write_seeds(tmp_path, site.url("/"))
    command = crawl_command(seeds, "--concurrency", "4")

    process = await asyncio.create_subprocess_exec(*command, cwd=tmp_path)
    await wait_until(lambda: sum(site.hits.values()) >= 60)
    process.kill()
    await process.wait()
    recorded_before = {
        str(r["url"])
        for r in read_jsonl((await run_cli("export", "crawl.db", cwd=tmp_path)).stdout)
    }
    hits_before = dict(site.hits)
    rerun = await run_cli(str(seeds), "--db", "crawl.db", "--no-progress", cwd=tmp_path)
    records = read_jsonl((await run_cli("export", "crawl.db", cwd=tmp_path)).stdout)

    assert rerun.returncode == 0, rerun.stderr
    assert recorded_before, "the first run recorded nothing before it was killed"
    assert sorted(str(r["url"]) for r in records) == sorted(site.expected_urls())
    for url in recorded_before:
        path = url.removeprefix(site.origin)
        assert site.hits[path] == hits_before[path] == 1


PARSER_MODULE = """
from crawler import Crawler, Router

router = Router()


@router.route("**/p/*")
async def page(page):
    yield {"n": int(page.url.rsplit("/", 1)[1]), "title": page.css_first("title").text()}
    for link in page.links():
        yield page.follow(link)


@router.route()
async def home(page):
    for link in page.links():
        yield page.follow(link)


not_a_parser = 42
"""


async def test_a_parser_module_runs_from_the_cli_and_its_items_export(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(10)
    (tmp_path / "myparsers.py").write_text(PARSER_MODULE)
    seeds = write_seeds(tmp_path, site.url("/"))

    crawl = await run_cli(
        str(seeds),
        "--db",
        "crawl.db",
        "--no-progress",
        "--parser",
        "myparsers:router",
        cwd=tmp_path,
    )
    jsonl = await run_cli("export", "crawl.db", "--items", "--with-source", cwd=tmp_path)
    stats = await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)

    assert crawl.returncode == 0, crawl.stderr
    items = read_jsonl(jsonl.stdout)
    assert sorted(item["n"] for item in items) == list(range(10))  # type: ignore[type-var]
    assert {item["_handler"] for item in items} == {"page"}
    assert all(item["_url"] == site.url(f"/p/{item['n']}") for item in items)
    assert items[0]["title"] == f"page {items[0]['n']}"
    assert json.loads(stats.stdout)["items"] == 10


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nowhere:crawler", "cannot load parser 'nowhere:crawler': ModuleNotFoundError"),
        ("myparsers:missing", "AttributeError"),
        ("myparsers:not_a_parser", "is a int, not a Crawler or a Router"),
        ("broken.py:crawler", "cannot load parser 'broken.py:crawler': SyntaxError"),
        ("no-colon", "expected module:object or path/to/file.py:object"),
    ],
)
async def test_a_bad_parser_exits_2_with_one_line(
    tmp_path: Path, reference: str, message: str
) -> None:
    (tmp_path / "myparsers.py").write_text(PARSER_MODULE)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    seeds = write_seeds(tmp_path, "http://127.0.0.1:1/")

    result = await run_cli(str(seeds), "--parser", reference, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


CRASH_SEED = 20261125  # the kill moments are random, and reproducible from this seed


async def test_repeated_kill_9_then_a_rerun_gives_the_records_of_an_uninterrupted_crawl(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3000, delay_s=0.005)
    seeds = write_seeds(tmp_path, site.url("/"))
    (tmp_path / "straight").mkdir()
    (tmp_path / "killed").mkdir()
    options = ("--concurrency", "8", "--per-host", "8")
    straight = await run_cli(
        str(seeds), "--db", "crawl.db", "--no-progress", *options, cwd=tmp_path / "straight"
    )
    assert straight.returncode == 0, straight.stderr
    expected = await export_by_url(tmp_path / "straight")
    site.log.clear()

    randomness = random.Random(CRASH_SEED)
    recorded_at_kill: list[tuple[int, set[str]]] = []  # (server log length, recorded URLs)
    for _ in range(4):
        before = len(site.log)
        wanted = before + randomness.randint(50, 600)
        process = await asyncio.create_subprocess_exec(
            *crawl_command(seeds, *options), cwd=tmp_path / "killed"
        )
        await kill_when_served(site, wanted, process)
        recorded = set(await export_by_url(tmp_path / "killed"))
        recorded_at_kill.append((len(site.log), recorded))
    final = await run_cli(
        str(seeds), "--db", "crawl.db", "--no-progress", *options, cwd=tmp_path / "killed"
    )
    records = read_jsonl((await run_cli("export", "crawl.db", cwd=tmp_path / "killed")).stdout)

    assert final.returncode == 0, final.stderr
    assert len(records) == len({r["url"] for r in records})  # no URL recorded twice
    assert {str(r["url"]): fingerprint(r) for r in records} == {
        url: fingerprint(record) for url, record in expected.items()
    }
    sizes = [len(recorded) for _, recorded in recorded_at_kill]
    print(f"recorded at each kill: {sizes} of {len(expected)}")
    assert sizes == sorted(sizes)
    assert 0 < sizes[-1] < len(expected)  # the kills did land mid-crawl
    for log_length, recorded in recorded_at_kill:
        fetched_later = {site.url(path) for path in site.log[log_length:]}
        assert not fetched_later & recorded, "a URL was fetched again after it was recorded"


async def kill_when_served(site: Site, requests: int, process: asyncio.subprocess.Process) -> None:
    """SIGKILL the crawler once the site has served `requests` requests in all."""
    await wait_until(lambda: len(site.log) >= requests or process.returncode is not None)
    process.kill()
    await process.wait()


def fingerprint(record: dict[str, object]) -> tuple[object, ...]:
    """What must not depend on interruptions (depth and parent depend on discovery order)."""
    fields = ("final_url", "status", "content_type", "size", "sha256", "error", "redirects")
    return tuple(record[name] for name in fields)


async def export_by_url(directory: Path) -> dict[str, dict[str, object]]:
    exported = await run_cli("export", "crawl.db", cwd=directory)
    if exported.returncode != 0:  # killed before the database existed
        return {}
    return {str(record["url"]): record for record in read_jsonl(exported.stdout)}


@pytest.mark.parametrize(
    ("make_db", "message"),
    [
        (lambda d: d.joinpath("c.db").write_bytes(b"my notes\n" * 100), "cannot use database"),
        (lambda d: d.joinpath("c.db").mkdir(), "cannot open database"),
        (None, "of database /proc/crawler-test/c.db"),  # a place nothing can be created in
    ],
)
async def test_a_database_that_cannot_be_used_exits_2_and_is_left_alone(
    tmp_path: Path, make_db: Callable[[Path], object] | None, message: str
) -> None:
    seeds = write_seeds(tmp_path, "http://127.0.0.1:9/")
    db = "c.db" if make_db is not None else "/proc/crawler-test/c.db"
    if make_db is not None:
        make_db(tmp_path)
    before = (tmp_path / "c.db").read_bytes() if (tmp_path / "c.db").is_file() else None

    result = await run_cli(str(seeds), "--db", db, "--no-progress", cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    if before is not None:
        assert (tmp_path / "c.db").read_bytes() == before


@pytest.mark.parametrize("command", ["export", "stats"])
async def test_an_empty_file_given_as_a_database_says_so(tmp_path: Path, command: str) -> None:
    (tmp_path / "c.db").write_bytes(b"")

    result = await run_cli(command, "c.db", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "crawler: error: c.db is empty: not a crawl database\n"
    assert (tmp_path / "c.db").read_bytes() == b""


async def test_an_export_to_an_unwritable_place_exits_2_and_leaves_nothing(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(1)
    await run_cli(str(write_seeds(tmp_path, site.url("/"))), "--db", "c.db", cwd=tmp_path)

    results = [
        await run_cli("export", "c.db", "--output", output, cwd=tmp_path)
        for output in ("/proc/records.jsonl", "missing-dir/records.jsonl")
    ]

    for result in results:
        assert result.returncode == 2
        assert result.stderr.startswith("crawler: error: cannot write ")
    assert not (tmp_path / "missing-dir").exists()


async def test_sigint_stops_with_130_and_a_second_signal_does_not_wait_for_the_grace(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="late")

    site = await serve_site(
        0, routes={"/slow/{n}": slow, "/start": link_page(*(f"/slow/{n}" for n in range(4)))}
    )
    seeds = write_seeds(tmp_path, site.url("/start"))
    command = crawl_command(seeds, "--shutdown-grace", "20")

    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    await wait_until(lambda: sum(n for path, n in site.hits.items() if "/slow/" in path) >= 4)
    process.send_signal(signal.SIGINT)
    await asyncio.sleep(0.5)
    still_running = process.returncode is None  # in its grace period, waiting for /slow/
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    records = read_jsonl((await run_cli("export", "crawl.db", cwd=tmp_path)).stdout)

    assert still_running
    assert process.returncode == 130, stderr.decode()
    assert time.monotonic() - started < 5  # not the 20 s grace
    assert "stopping now" in stderr.decode()
    assert [r["url"] for r in records] == [site.url("/start")]  # the slow ones stay queued


@pytest.mark.parametrize("command", ["crawl", "export", "stats"])
async def test_a_damaged_database_gives_one_line_and_exit_2(
    tmp_path: Path, serve_site: SiteFactory, command: str
) -> None:
    site = await serve_site(300)
    seeds = write_seeds(tmp_path, site.url("/"))
    first = await run_cli(str(seeds), "--db", "c.db", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = bytearray((tmp_path / "c.db").read_bytes())
    data[8192:] = b"\xde\xad" * ((len(data) - 8192) // 2)  # every page past the second
    (tmp_path / "c.db").write_bytes(bytes(data))
    arguments = {
        "crawl": [str(seeds), "--db", "c.db", "--no-progress"],
        "export": ["export", "c.db"],
        "stats": ["stats", "c.db"],
    }[command]

    result = await run_cli(*arguments, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "database disk image is malformed" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


async def test_sigterm_while_seeds_are_read_stops_at_once_and_a_rerun_reads_them_again(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3)
    seeds = tmp_path / "seeds.txt"
    with seeds.open("w") as lines:
        lines.writelines(f"{site.origin}/p/{n}\n" for n in range(300_000))
    process = await asyncio.create_subprocess_exec(
        *crawl_command(seeds, "--max-pages", "1"), cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    first_line = await process.stderr.readline()  # "crawl started": seeds are being read now
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    except TimeoutError:
        process.kill()
        rest = await process.stderr.read()
        raise AssertionError((first_line + rest).decode()) from None
    hits_before_rerun = sum(site.hits.values())
    rerun = await run_cli(
        str(seeds), "--db", "crawl.db", "--no-progress", "--max-pages", "1", cwd=tmp_path
    )
    stats = json.loads((await run_cli("stats", "crawl.db", "--json", cwd=tmp_path)).stdout)

    assert process.returncode == 143, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert hits_before_rerun == 0  # stopped before the crawl proper began
    assert rerun.returncode == 0, rerun.stderr
    assert stats["pages"] + stats["queued"] == 300_001  # every seed, and "/" found on /p/0


def test_help_groups_the_options_shows_defaults_as_typed_and_examples_that_work() -> None:
    crawl_help = cli._crawl_parser().format_help()

    groups = re.findall(r"^([a-z][a-z ]+):$", crawl_help, re.MULTILINE)
    assert groups[2:] == [
        "crawl scope", "politeness", "limits", "retry policy", "proxies", "timeouts", "output",
        "logging", "examples",
    ]  # fmt: skip
    assert "(default: 408,429,500,502,503,504)" in " ".join(crawl_help.split())
    assert "(default: no limit)" not in crawl_help.split("--proxies-file")[1].split("--")[0]
    for parser, run in (
        (cli._crawl_parser(), True),
        (commands.export_parser(), False),
        (commands.stats_parser(), False),
        (report_parser("crawler"), False),
    ):
        examples = parser.epilog.split("\n\n")[0].splitlines()[1:]  # type: ignore[union-attr]
        assert len(examples) >= 2
        for example in examples:
            command = next(part for part in example.split(" | ") if "crawler " in part)
            words = shlex.split(command.split(" > ")[0].split("   ")[0])
            arguments = words[words.index("crawler") + 1 :]
            namespace = parser.parse_args(arguments[1:] if not run else arguments)
            if run:
                load_config(cli._cli_values(namespace), environ={})
