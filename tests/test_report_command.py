"""The `report` command as a subprocess: where the page goes, its file mode, bad input."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import SiteFactory, run_cli


async def crawl(tmp_path: Path, serve_site: SiteFactory) -> None:
    site = await serve_site(2)
    (tmp_path / "seeds.txt").write_text(site.url("/") + "\n")
    result = await run_cli("seeds.txt", "--db", "c.db", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


async def test_the_report_goes_to_report_html_with_the_mode_a_new_file_gets(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    await crawl(tmp_path, serve_site)
    umask = os.umask(0)
    os.umask(umask)

    result = await run_cli("report", "c.db", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == "report written to report.html\n"
    page = tmp_path / "report.html"
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert page.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [name for name in os.listdir(tmp_path) if "report" in name] == ["report.html"]


async def test_a_report_replaces_a_file_keeping_its_mode_or_goes_to_stdout_with_dash(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    await crawl(tmp_path, serve_site)
    kept = tmp_path / "kept.html"
    kept.write_text("old")
    kept.chmod(0o640)

    replaced = await run_cli("report", "c.db", "--output", "kept.html", cwd=tmp_path)
    printed = await run_cli("report", "c.db", "--output", "-", cwd=tmp_path)

    assert (replaced.returncode, printed.returncode) == (0, 0)
    assert kept.stat().st_mode & 0o777 == 0o640
    assert printed.stdout == kept.read_text(encoding="utf-8")
    assert printed.stderr == ""
    assert not (tmp_path / "-").exists()


async def test_a_report_that_cannot_be_read_or_written_exits_2_with_one_line(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    await crawl(tmp_path, serve_site)
    (tmp_path / "notes.db").write_text("not a database " * 200)

    results = [
        await run_cli("report", "missing.db", cwd=tmp_path),
        await run_cli("report", "notes.db", cwd=tmp_path),
        await run_cli("report", "c.db", "--output", "missing-dir/r.html", cwd=tmp_path),
        await run_cli("report", "c.db", "--output", "/proc/r.html", cwd=tmp_path),
    ]

    assert [result.returncode for result in results] == [2, 2, 2, 2]
    assert results[0].stderr == "crawler: error: database not found: missing.db\n"
    assert results[1].stderr.startswith("crawler: error: ")
    assert results[2].stderr.startswith("crawler: error: cannot write missing-dir/r.html: ")
    assert all(len(result.stderr.splitlines()) == 1 for result in results)
    assert not (tmp_path / "report.html").exists()
    assert not (tmp_path / "missing-dir").exists()
