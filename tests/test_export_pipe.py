"""`crawler export DB | head -1`: a reader that goes away ends the export quietly with 141 (as
for other Unix tools), in every format, with nothing on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import SiteFactory, run_cli
from tests.test_cli import PARSER_MODULE, write_seeds

EXPORTS = {  # each writes more than a pipe holds (64 KiB) from this crawl
    "jsonl": ("export", "crawl.db"),
    "csv": ("export", "crawl.db", "--format", "csv"),
    "warc": ("export", "crawl.db", "--format", "warc"),
    "items": ("export", "crawl.db", "--items", "--with-source"),
    "items csv": ("export", "crawl.db", "--items", "--format", "csv"),
}


async def test_a_closed_pipe_ends_every_export_quietly_with_141(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(2500)
    (tmp_path / "myparsers.py").write_text(PARSER_MODULE)
    seeds = write_seeds(tmp_path, site.url("/"))
    crawl = await run_cli(
        str(seeds), "--db", "crawl.db", "--no-progress", "--parser", "myparsers:router",
        "--store-bodies", "all", cwd=tmp_path,
    )  # fmt: skip
    assert crawl.returncode == 0, crawl.stderr

    for name, arguments in EXPORTS.items():
        returncode, first_line, stderr = read_one_line_and_hang_up(tmp_path, *arguments)
        assert first_line, name
        assert (returncode, stderr) == (141, ""), name


def read_one_line_and_hang_up(cwd: Path, *arguments: str) -> tuple[int, bytes, str]:
    """As `crawler ARGUMENTS | head -1`: the exit code, the line read and what went to stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler", *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first_line = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=60), first_line, stderr
