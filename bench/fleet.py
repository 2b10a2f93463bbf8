"""The fleet scenario: one generated site served on 64 loopback hosts, crawled by our crawler on
SQLite (one process), on PostgreSQL with one and with two processes, and by the bare loop.

PostgreSQL runs as a throwaway server with its durable defaults (fsync and synchronous commits
on), started the way the tests start theirs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness import (
    BENCH,
    PYTHON,
    ROOT,
    Measurement,
    Nginx,
    make_site,
    timed,
    warm_page_cache,
)

sys.path.insert(0, str(ROOT))
from tests.postgres_server import PostgresServer, started_server

FLEET_PORT = 8092
HOSTS = [f"127.0.0.{n}" for n in range(2, 66)]  # 64 hosts
TOOLS = ("ours-sqlite", "ours-pg-1", "ours-pg-2", "bare-aiohttp")


def fleet_nginx_conf(root: Path, work: Path) -> Path:
    conf = work / "nginx-fleet.conf"
    listens = "\n".join(f"    listen {host}:{FLEET_PORT} backlog=4096;" for host in HOSTS)
    conf.write_text(
        f"""worker_processes 1;
pid {work}/nginx-fleet.pid;
error_log {work}/nginx-fleet.err;
daemon on;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  include /etc/nginx/mime.types;
  keepalive_requests 1000000;
  client_body_temp_path {work}/tmp-fleet;
  proxy_temp_path {work}/tmp-fleet;
  fastcgi_temp_path {work}/tmp-fleet;
  uwsgi_temp_path {work}/tmp-fleet;
  scgi_temp_path {work}/tmp-fleet;
  server {{
{listens}
    root {root};
  }}
}}
"""
    )
    return conf


def run_ours(seeds: Path, db: str, work: Path, *extra: str) -> tuple[str, dict[str, float]]:
    output, figures = timed(
        [PYTHON, "-m", "crawler", str(seeds), "--db", db, "--no-progress", *extra], cwd=work
    )
    stats = subprocess.run(
        [PYTHON, "-m", "crawler", "stats", db, "--json"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    pages = json.loads(stats.stdout)["pages"] if stats.returncode == 0 else 0
    return output + f"\npages={pages}\n", figures


def run_tool(
    tool: str, seeds: Path, work: Path, server: PostgresServer
) -> tuple[str, dict[str, float]]:
    if tool == "bare-aiohttp":
        urls = seeds.read_text().split()
        return timed([PYTHON, str(BENCH / "bare_aiohttp.py"), *urls], cwd=work)
    if tool == "ours-sqlite":
        db = work / "fleet.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return run_ours(seeds, str(db), work)
    processes = tool.rsplit("-", 1)[1]
    dsn = server.create_database()
    try:
        return run_ours(seeds, dsn, work, "--processes", processes)
    finally:
        server.drop_database(dsn)


def fleet_scenario(args: argparse.Namespace, work: Path) -> list[Measurement]:
    root, _ = make_site(args.fleet_pages, FLEET_PORT, args.cache)
    seeds = work / "fleet-seeds.txt"
    seeds.write_text("".join(f"http://{host}:{FLEET_PORT}/\n" for host in HOSTS))
    (work / "tmp-fleet").mkdir(exist_ok=True)
    warm_page_cache(root)
    results: list[Measurement] = []
    with started_server(durable=True) as server, Nginx(fleet_nginx_conf(root, work)):
        for round_number in range(1, args.rounds + 1):
            shift = (round_number - 1) % len(TOOLS)
            for tool in TOOLS[shift:] + TOOLS[:shift]:
                run = run_tool(tool, seeds, work, server)
                measurement = Measurement.of(tool, "fleet", round_number, 0, run)
                results.append(measurement)
                print(
                    f"  fleet round {round_number} {tool}: {measurement.pages} pages,"
                    f" {measurement.pages / measurement.wall_s:.0f} pages/s,"
                    f" {measurement.cpu_s:.2f} CPU s, {measurement.peak_rss_mb:.0f} MB",
                    flush=True,
                )
    # Complete means as many pages as the fullest run of the same kind (ours, or the bare loop).
    for measurement in results:
        kind = measurement.tool.split("-")[0]
        measurement.expected = max(m.pages for m in results if m.tool.split("-")[0] == kind)
    return results
