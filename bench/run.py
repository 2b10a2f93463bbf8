"""The benchmark: our crawler side by side with a bare aiohttp loop, Scrapy, Crawlee and wget.

    python bench/run.py [--pages 20000] [--rounds 3] [--scenarios site,docs,seed,scale,fleet]

Needs nginx and wget (Debian: apt-get install nginx wget) and the bench extra
(pip install -e '.[bench]'). Writes bench/results/latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from fleet import fleet_scenario
from harness import (
    BENCH,
    PYTHON,
    Measurement,
    Nginx,
    make_site,
    nginx_conf,
    timed,
    warm_page_cache,
)
from report import describe_machine, markdown, ratios, summarise

SITE_PORT = 8089
LATENCY_PORT = 8090
SCALE_PORT = 8091


# --- the tools -------------------------------------------------------------------------------


def run_ours(
    seed: str, work: Path, concurrency: int, *extra: str
) -> tuple[str, dict[str, float], Path]:
    db = work / "ours.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    seeds = work / "seeds.txt"
    if not seed.startswith("@"):
        seeds.write_text(seed + "\n")
    else:
        seeds = Path(seed[1:])
    output, figures = timed(
        [
            PYTHON,
            "-m",
            "crawler",
            str(seeds),
            "--db",
            str(db),
            "--no-progress",
            "--concurrency",
            str(concurrency),
            "--per-host",
            str(concurrency),
            *extra,
        ],
        cwd=work,
    )
    stats = subprocess.run(
        [PYTHON, "-m", "crawler", "stats", str(db), "--json"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    pages = json.loads(stats)["pages"] if stats.strip() else 0
    return output + f"\npages={pages}\n", figures, db


def run_bare(seed: str, work: Path, concurrency: int) -> tuple[str, dict[str, float]]:
    return timed(
        [PYTHON, str(BENCH / "bare_aiohttp.py"), seed, "--concurrency", str(concurrency)], work
    )


def run_scrapy(seed: str, work: Path, concurrency: int) -> tuple[str, dict[str, float]]:
    out = work / "scrapy.out"
    out.unlink(missing_ok=True)
    scrapy = str(Path(PYTHON).parent / "scrapy")
    settings = {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    flags = [part for key, value in settings.items() for part in ("-s", f"{key}={value}")]
    output, figures = timed(
        [
            scrapy,
            "runspider",
            str(BENCH / "scrapy_spider.py"),
            "-a",
            f"seed={seed}",
            "-a",
            f"out={out}",
            *flags,
        ],
        work,
    )
    return output + (out.read_text() if out.exists() else ""), figures


def run_crawlee(seed: str, work: Path, concurrency: int) -> tuple[str, dict[str, float]]:
    env = {**os.environ, "CRAWLEE_STORAGE_DIR": str(work / "crawlee-storage")}
    return timed(
        [PYTHON, str(BENCH / "crawlee_crawler.py"), seed, "--concurrency", str(concurrency)],
        work,
        env,
    )


def run_wget(seed: str, work: Path, _: int) -> tuple[str, dict[str, float]]:
    target = work / "wget"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    output, figures = timed(
        [
            "wget",
            "--recursive",
            "--level=inf",
            "--no-verbose",
            "--delete-after",
            "--no-directories",
            "-e",
            "robots=off",
            seed,
        ],
        target,
    )
    found = re.search(r"Downloaded: (\d+) files", output)
    return output + f"\npages={found.group(1) if found else 0}\n", figures


SITE_TOOLS: dict[str, Callable[[str, Path, int], tuple[str, dict[str, float]]]] = {
    "ours": lambda seed, work, c: run_ours(seed, work, c)[:2],
    "bare-aiohttp": run_bare,
    "scrapy": run_scrapy,
    "crawlee": run_crawlee,
    "wget": run_wget,
}


# --- scenarios --------------------------------------------------------------------------------


def site_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    return static_site_scenario("site", args, work, make_site(args.pages, SITE_PORT, args.cache))


def docs_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    site = make_site(args.docs_pages, SITE_PORT, args.cache, kind="docs")
    return static_site_scenario("docs", args, work, site)


def static_site_scenario(
    name: str, args: argparse.Namespace, work: Path, site: tuple[Path, int]
) -> list[Measurement]:
    """Each tool crawls the generated site from its root, round after round."""
    root, expected = site
    seed = f"http://127.0.0.1:{SITE_PORT}/"
    tools = [tool for tool in args.tools.split(",") if tool in SITE_TOOLS]
    results: list[Measurement] = []
    warm_page_cache(root)
    with Nginx(nginx_conf(root, SITE_PORT, work)):
        for round_number in range(1, args.rounds + 1):
            # Each round starts with the next tool, so no tool always runs first (or last).
            shift = (round_number - 1) % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                output, figures = SITE_TOOLS[tool](seed, work, args.concurrency)
                measurement = Measurement.of(tool, name, round_number, expected, (output, figures))
                print(
                    f"  {name} round {round_number} {tool}: {measurement.pages} pages,"
                    f" {measurement.pages / measurement.wall_s:.0f} pages/s,"
                    f" {measurement.cpu_s:.2f} CPU s, {measurement.peak_rss_mb:.0f} MB",
                    flush=True,
                )
                results.append(measurement)
    return results


def seed_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    urls = [f"http://127.0.0.1:{LATENCY_PORT}/u/{n}" for n in range(1000)]
    url_file = work / "latency-urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    server = subprocess.Popen(
        [PYTHON, str(BENCH / "latency_server.py"), "--port", str(LATENCY_PORT)]
    )
    results: list[Measurement] = []
    try:
        time.sleep(1.0)
        clients: dict[str, list[str]] = {
            "requests-threads": [PYTHON, str(BENCH / "seed_clients.py"), "requests", str(url_file)],
            "httpx-async": [PYTHON, str(BENCH / "seed_clients.py"), "httpx", str(url_file)],
            "bare-aiohttp": [PYTHON, str(BENCH / "bare_aiohttp.py"), "--urls", str(url_file)],
        }
        for round_number in range(1, args.rounds + 1):
            for tool, command in clients.items():
                output, figures = timed([*command, "--concurrency", str(args.concurrency)], work)
                results.append(Measurement.of(tool, "seed", round_number, 1000, (output, figures)))
            output, figures, _ = run_ours(
                f"@{url_file}", work, args.concurrency, "--max-depth", "0"
            )
            results.append(Measurement.of("ours", "seed", round_number, 1000, (output, figures)))
            for m in results[-4:]:
                print(
                    f"  seed round {round_number} {m.tool}: {m.pages} pages in {m.wall_s:.2f} s",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()
    return results


def scale_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    root, _ = make_site(10_000, SCALE_PORT, args.cache, kind="scale")
    rewrite = r'location ~ "^/s/\d*?(\d{4})\.html$" { try_files /s/$1.html =404; }'
    seed = f"http://127.0.0.1:{SCALE_PORT}/s/0000000.html"
    results: list[Measurement] = []
    with Nginx(nginx_conf(root, SCALE_PORT, work, rewrite)):
        output, figures, db = run_ours(
            seed, work, args.concurrency, "--max-pages", str(args.scale_pages)
        )
        tenths = rates_by_tenth(db)
        results.append(
            Measurement.of(
                "ours",
                "scale",
                1,
                args.scale_pages,
                (output, figures),
                extra={
                    "pages_per_s_by_tenth": tenths,
                    "last_over_first": round(tenths[-1] / tenths[0], 3),
                },
            )
        )
        print(
            f"  scale: {results[-1].pages} pages, {figures['rss_mb']:.0f} MB, tenths {tenths}",
            flush=True,
        )
    return results


def rates_by_tenth(db: Path) -> list[float]:
    with sqlite3.connect(db) as connection:
        times = [
            datetime.fromisoformat(row[0]).timestamp()
            for row in connection.execute(
                "SELECT fetched_at FROM urls WHERE state = 2 ORDER BY fetched_at"
            )
        ]
    size = len(times) // 10
    rates = []
    for tenth in range(10):
        chunk = times[tenth * size : (tenth + 1) * size + 1]
        span = chunk[-1] - chunk[0]
        rates.append(round((len(chunk) - 1) / span, 1) if span > 0 else 0.0)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--scenarios", default="site,docs,seed,scale,fleet")
    parser.add_argument("--tools", default="ours,bare-aiohttp,scrapy,crawlee,wget")
    parser.add_argument("--scale-pages", type=int, default=100_000)
    parser.add_argument("--docs-pages", type=int, default=2_400)
    parser.add_argument("--fleet-pages", type=int, default=500, help="pages of each fleet host")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crawler-bench")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="crawler-bench-") as scratch:
        work = Path(scratch)
        for scenario in args.scenarios.split(","):
            print(f"scenario {scenario}", flush=True)
            runner = {
                "site": site_scenario,
                "docs": docs_scenario,
                "seed": seed_scenario,
                "scale": scale_scenario,
                "fleet": fleet_scenario,
            }[scenario]
            results.extend(runner(args, work))
    rows = summarise(results)
    found = ratios(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "summary": rows,
                "ratios": found,
                "runs": [asdict(m) for m in results],
            },
            indent=2,
        )
        + "\n"
    )
    table = markdown(rows, found, machine)
    (args.out / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
