"""The benchmark: our crawler side by side with a bare aiohttp loop, Scrapy, Crawlee and wget.

    python bench/run.py [--pages 20000] [--rounds 3] [--scenarios site,seed,scale]

Needs nginx and wget (Debian: apt-get install nginx wget) and the bench extra
(pip install -e '.[bench]'). Writes bench/results/latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
SITE_PORT = 8089
LATENCY_PORT = 8090
SCALE_PORT = 8091
RUN_TIMEOUT_S = 900


@dataclass
class Measurement:
    tool: str
    scenario: str
    round: int
    pages: int
    expected: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    extra: dict[str, object]

    @classmethod
    def of(
        cls,
        tool: str,
        scenario: str,
        round_number: int,
        expected: int,
        run: tuple[str, dict[str, float]],
        *,
        extra: dict[str, object] | None = None,
    ) -> Measurement:
        """A run's measurement from what `timed()` returned: its output (for `pages=N`) and
        figures."""
        output, figures = run
        return cls(
            tool,
            scenario,
            round_number,
            pages_from(output),
            expected,
            figures["wall_s"],
            figures["cpu_s"],
            figures["rss_mb"],
            extra or {},
        )

    @property
    def complete(self) -> bool:
        return self.pages >= self.expected


def timed(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, dict[str, float]]:
    """Run under /usr/bin/time -v; return stdout+stderr and wall, cpu, rss."""
    full = ["/usr/bin/time", "-v", *command]
    started = time.perf_counter()
    result = subprocess.run(
        full, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    wall = time.perf_counter() - started
    report = result.stderr
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", report).group(1))  # type: ignore[union-attr]
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", report).group(1))  # type: ignore[union-attr]
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))  # type: ignore[union-attr]
    if result.returncode != 0:
        print(f"  ! {command[0:3]} exited {result.returncode}: {report[-500:]}", file=sys.stderr)
    return result.stdout + report, {"wall_s": wall, "cpu_s": user + system, "rss_mb": rss_kb / 1024}


def pages_from(output: str) -> int:
    found = re.findall(r"pages=(\d+)", output)
    return int(found[-1]) if found else 0


# --- the site and its server ---------------------------------------------------------------


def nginx_conf(root: Path, port: int, work: Path, extra: str = "") -> Path:
    conf = work / f"nginx-{port}.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {work}/nginx-{port}.pid;
error_log {work}/nginx-{port}.err;
daemon on;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  include /etc/nginx/mime.types;
  keepalive_requests 1000000;
  client_body_temp_path {work}/tmp-{port};
  proxy_temp_path {work}/tmp-{port};
  fastcgi_temp_path {work}/tmp-{port};
  uwsgi_temp_path {work}/tmp-{port};
  scgi_temp_path {work}/tmp-{port};
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root};
    {extra}
  }}
}}
"""
    )
    return conf


class Nginx:
    def __init__(self, conf: Path) -> None:
        self.conf = conf

    def __enter__(self) -> Nginx:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        subprocess.run([nginx, "-c", str(self.conf)], check=True)
        time.sleep(0.3)
        return self

    def __exit__(self, *_: object) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        subprocess.run([nginx, "-c", str(self.conf), "-s", "stop"], check=False)
        time.sleep(0.3)


def make_site(pages: int, port: int, cache: Path, *, scale: bool = False) -> tuple[Path, int]:
    kind = "scale" if scale else "site"
    out = cache / f"{kind}-{pages}-{port}"
    marker = out / "expected.txt"
    if not marker.exists():
        shutil.rmtree(out, ignore_errors=True)
        flags = ["--scale"] if scale else []
        printed = subprocess.run(
            [
                PYTHON,
                str(BENCH / "make_site.py"),
                str(out),
                "--pages",
                str(pages),
                "--origin",
                f"http://127.0.0.1:{port}",
                *flags,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        marker.write_text(printed.strip())
    return out, int(marker.read_text())


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


def warm_page_cache(root: Path) -> None:
    """Read every file of the site once, so no tool pays for cold disk reads."""
    for path in root.rglob("*"):
        if path.is_file():
            path.read_bytes()


def site_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    root, expected = make_site(args.pages, SITE_PORT, args.cache)
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
                measurement = Measurement.of(
                    tool, "site", round_number, expected, (output, figures)
                )
                print(
                    f"  site round {round_number} {tool}: {measurement.pages} pages,"
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
    root, _ = make_site(10_000, SCALE_PORT, args.cache, scale=True)
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


# --- the report -------------------------------------------------------------------------------


def summarise(results: list[Measurement]) -> list[dict[str, object]]:
    rows = []
    for scenario in ("site", "seed", "scale"):
        for tool in dict.fromkeys(m.tool for m in results if m.scenario == scenario):
            runs = [m for m in results if m.scenario == scenario and m.tool == tool]
            pages = min(m.pages for m in runs)
            rows.append(
                {
                    "scenario": scenario,
                    "tool": tool,
                    "rounds": len(runs),
                    "pages": pages,
                    "expected": runs[0].expected,
                    "complete": all(m.complete for m in runs),
                    "wall_s": round(statistics.median(m.wall_s for m in runs), 2),
                    "pages_per_s": round(statistics.median(m.pages / m.wall_s for m in runs), 1),
                    "cpu_s_per_1000": round(
                        statistics.median(1000 * m.cpu_s / max(m.pages, 1) for m in runs), 3
                    ),
                    "peak_rss_mb": round(max(m.peak_rss_mb for m in runs), 1),
                    **({"extra": runs[0].extra} if runs[0].extra else {}),
                }
            )
    return rows


def ratios(rows: list[dict[str, object]]) -> dict[str, float]:
    def row(scenario: str, tool: str) -> dict[str, object] | None:
        return next((r for r in rows if r["scenario"] == scenario and r["tool"] == tool), None)

    found: dict[str, float] = {}
    ours, bare = row("site", "ours"), row("site", "bare-aiohttp")
    if ours and bare:
        found["site: ours / bare pages/s"] = round(
            float(ours["pages_per_s"]) / float(bare["pages_per_s"]), 2
        )  # type: ignore[arg-type]
        found["site: ours / bare CPU per page"] = round(
            float(ours["cpu_s_per_1000"]) / float(bare["cpu_s_per_1000"]), 2
        )  # type: ignore[arg-type]
    for other in ("scrapy", "crawlee"):
        theirs = row("site", other)
        if ours and theirs:
            found[f"site: ours / {other} pages/s"] = round(
                float(ours["pages_per_s"]) / float(theirs["pages_per_s"]), 1
            )  # type: ignore[arg-type]
    seed_ours, seed_bare = row("seed", "ours"), row("seed", "bare-aiohttp")
    if seed_ours and seed_bare:
        found["seed: ours / bare wall time"] = round(
            float(seed_ours["wall_s"]) / float(seed_bare["wall_s"]), 2
        )  # type: ignore[arg-type]
    scale = row("scale", "ours")
    if scale:
        found["scale: last tenth / first tenth"] = scale["extra"]["last_over_first"]  # type: ignore[index]
    return found


def markdown(
    rows: list[dict[str, object]], found: dict[str, float], machine: dict[str, str]
) -> str:
    lines = [
        f"Measured {machine['date']} on {machine['machine']}; {machine['versions']}.",
        "",
        "| scenario | tool | pages | pages/s | CPU s / 1,000 pages | peak RSS MB | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        flag = "" if r["complete"] else f" (incomplete: expected {r['expected']})"
        lines.append(
            f"| {r['scenario']} | {r['tool']} | {r['pages']}{flag} | {r['pages_per_s']} |"
            f" {r['cpu_s_per_1000']} | {r['peak_rss_mb']} | {r['wall_s']} |"
        )
    lines += ["", *(f"- {name}: **{value}**" for name, value in found.items())]
    return "\n".join(lines) + "\n"


def describe_machine() -> dict[str, str]:
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    versions = []
    for package in ("aiohttp", "selectolax", "yarl", "scrapy", "crawlee", "httpx", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    wget = subprocess.run(
        ["wget", "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    nginx = subprocess.run(
        ["nginx", "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GiB,"
        f" {platform.machine()}, Python {platform.python_version()}",
        "versions": ", ".join(
            [*versions, wget.split(" built")[0], nginx.replace("nginx version: ", "")]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--scenarios", default="site,seed,scale")
    parser.add_argument("--tools", default="ours,bare-aiohttp,scrapy,crawlee,wget")
    parser.add_argument("--scale-pages", type=int, default=100_000)
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
            runner = {"site": site_scenario, "seed": seed_scenario, "scale": scale_scenario}[
                scenario
            ]
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
