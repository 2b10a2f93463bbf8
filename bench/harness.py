"""What every benchmark scenario shares: a timed run, its measurement, the generated site and
the nginx that serves it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
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
        started = subprocess.run([nginx, "-c", str(self.conf)], capture_output=True, check=False)
        if started.returncode != 0:
            reason = started.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"bench: nginx did not start ({' '.join(reason) or 'no reason'})")
        time.sleep(0.3)
        return self

    def __exit__(self, *_: object) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        subprocess.run([nginx, "-c", str(self.conf), "-s", "stop"], check=False)
        time.sleep(0.3)


def make_site(pages: int, port: int, cache: Path, *, kind: str = "site") -> tuple[Path, int]:
    """The generated site of `kind` (site, docs or scale; see make_site.py), made once and
    cached, and how many URLs a full crawl of it records."""
    out = cache / f"{kind}-{pages}-{port}"
    marker = out / "expected.txt"
    if not marker.exists():
        shutil.rmtree(out, ignore_errors=True)
        flags = [] if kind == "site" else [f"--{kind}"]
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


def warm_page_cache(root: Path) -> None:
    """Read every file of the site once, so no tool pays for cold disk reads."""
    for path in root.rglob("*"):
        if path.is_file():
            path.read_bytes()
