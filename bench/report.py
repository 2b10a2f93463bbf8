"""The benchmark's report: medians per scenario and tool, the headline ratios, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from harness import Measurement

SCENARIOS = ("site", "docs", "seed", "scale", "fleet")


def summarise(results: list[Measurement]) -> list[dict[str, object]]:
    rows = []
    for scenario in SCENARIOS:
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
    for site in ("site", "docs"):
        found.update(
            _site_ratios(site, row(site, "ours"), row(site, "bare-aiohttp"), row(site, "wget"))
        )
    ours = row("site", "ours")
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
    pg1, pg2 = row("fleet", "ours-pg-1"), row("fleet", "ours-pg-2")
    lite, loop = row("fleet", "ours-sqlite"), row("fleet", "bare-aiohttp")
    for name, faster, slower in (
        ("fleet: PostgreSQL, 2 processes / 1 process pages/s", pg2, pg1),
        ("fleet: PostgreSQL / SQLite pages/s (1 process each)", pg1, lite),
        ("fleet: ours on SQLite / bare pages/s", lite, loop),
    ):
        if faster and slower:
            found[name] = round(float(faster["pages_per_s"]) / float(slower["pages_per_s"]), 2)  # type: ignore[arg-type]
    scale = row("scale", "ours")
    if scale:
        found["scale: last tenth / first tenth"] = scale["extra"]["last_over_first"]  # type: ignore[index]
    return found


def _site_ratios(site: str, *rows: dict[str, object] | None) -> dict[str, float]:
    """Ours against the bare loop (pages/s, CPU per page) and wget (pages/s) on a static site."""
    ours, bare, wget = rows
    found: dict[str, float] = {}
    if ours is None:
        return found

    def figure(row: dict[str, object], name: str) -> float:
        return float(str(row[name]))

    if bare is not None:
        found[f"{site}: ours / bare pages/s"] = round(
            figure(ours, "pages_per_s") / figure(bare, "pages_per_s"), 2
        )
        found[f"{site}: ours / bare CPU per page"] = round(
            figure(ours, "cpu_s_per_1000") / figure(bare, "cpu_s_per_1000"), 2
        )
    if wget is not None:
        found[f"{site}: ours / wget pages/s"] = round(
            figure(ours, "pages_per_s") / figure(wget, "pages_per_s"), 2
        )
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
