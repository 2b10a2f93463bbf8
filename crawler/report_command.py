"""The `report` command: a crawl database's figures as one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crawler.arguments import CommandParser, WithExamples
from crawler.html_report import ReportData, render_report
from crawler.output_file import write_whole
from crawler.stats_report import REFERRERS_SHOWN
from crawler.store import open_storage
from crawler.urls import mask_credentials

DEFAULT_OUTPUT = Path("report.html")


def report_parser(prog: str) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"{prog} report",
        description="Write a crawl's figures as one HTML file that needs nothing else (charts"
        " drawn inline, nothing fetched): pages per second, statuses, error kinds, broken links"
        " and the pages that link to them, top hosts, depths, robots and trap figures, proxies.",
        epilog=f"""examples:
  {prog} report storage/crawl.db                       writes report.html here
  {prog} report storage/crawl.db --output crawl.html
  {prog} report postgresql://crawler:secret@db/crawl --output - > report.html""",
        formatter_class=WithExamples,
    )
    parser.add_argument("db", metavar="DB", help="crawl database: a file, or a postgresql:// URL")
    parser.add_argument(
        "--output",
        metavar="FILE",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"the HTML file to write, replaced whole (default: {DEFAULT_OUTPUT});"
        " '-' for standard output",
    )
    return parser


async def read_report(db: str) -> ReportData:
    """What the report shows, read from the database `db`. Raises `StorageError`."""
    storage = await open_storage(db, read_only=True)
    try:
        return ReportData(
            source=mask_credentials(db),
            stats=await storage.stats(),
            broken=await storage.broken_links(referrers_per_link=REFERRERS_SHOWN),
            by_second=await storage.records_by_second(),
            by_depth=await storage.records_by_depth(),
        )
    finally:
        await storage.close()


async def report(db: str, output: Path) -> None:
    """Write the report of database `db` to `output` ('-': standard output). Raises
    `UsageError` when the file cannot be written, `StorageError` when the database cannot
    be read."""
    page = render_report(await read_report(db))
    if str(output) == "-":
        sys.stdout.write(page)
        return
    write_whole(output, page.encode())
    print(f"report written to {output}", file=sys.stderr)
