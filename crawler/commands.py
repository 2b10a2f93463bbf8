"""The commands that read a crawl database: `export`, `stats` and `report`; their parsers and
runs. The command line imports this only when one of them is asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from crawler.arguments import PROG, CommandParser, WithExamples
from crawler.changes import since_time
from crawler.export_command import OUTPUT_FORMATS, ExportRequest, export
from crawler.report_command import report, report_parser
from crawler.stats_report import REFERRERS_SHOWN, format_stats, stats_as_dict
from crawler.store import open_storage

EXPORT_EXAMPLES = f"""examples:
  {PROG} export storage/crawl.db > pages.jsonl
  {PROG} export storage/crawl.db --format csv --output pages.csv
  {PROG} export shop.db --items --with-source --format csv --output products.csv
  {PROG} export storage/crawl.db --format warc --output crawl.warc.gz   (needs --store-bodies)
  {PROG} export storage/crawl.db --changes-since 24h     (after crawls with --recrawl-after)
  {PROG} export postgresql://crawler:secret@db/crawl | head"""
STATS_EXAMPLES = f"""examples:
  {PROG} stats storage/crawl.db
  {PROG} stats storage/crawl.db --json | jq .by_status"""


def export_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"{PROG} export",
        description="Write one record per URL of a crawl database, or with --items the items"
        " your parsers produced.",
        epilog=EXPORT_EXAMPLES,
        formatter_class=WithExamples,
    )
    parser.add_argument("db", metavar="DB", help="crawl database: a file, or a postgresql:// URL")
    parser.add_argument("--items", action="store_true", help="the parsers' items, not records")
    parser.add_argument(
        "--with-source",
        action="store_true",
        help="with --items: add each item's page URL and handler as _url and _handler",
    )
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="jsonl",
        help="default: jsonl; warc: the kept pages (crawled with --store-bodies) as WARC/1.1",
    )
    parser.add_argument(
        "--changes-since",
        metavar="TIME",
        type=_since,
        help="instead of records, the URLs that appeared, changed or disappeared (404, 410)"
        " since TIME: an ISO date or time (UTC unless it says), or a span before now (24h, 7d)",
    )
    parser.add_argument("--output", metavar="FILE", type=Path, help="default: standard output")
    return parser


def _since(text: str) -> str:
    try:
        return since_time(text, datetime.now(UTC))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def stats_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"{PROG} stats",
        description="Counts by status, error and host; duration and rate.",
        epilog=STATS_EXAMPLES,
        formatter_class=WithExamples,
    )
    parser.add_argument("db", metavar="DB", help="crawl database: a file, or a postgresql:// URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run_subcommand(command: str, rest: list[str]) -> None:
    """Run `export`, `report` or `stats` with the arguments that follow the command."""
    if command == "export":
        namespace = export_parser().parse_args(rest)
        what = ExportRequest(
            namespace.format,
            items=namespace.items,
            with_source=namespace.with_source,
            changes_since=namespace.changes_since,
        )
        asyncio.run(export(namespace.db, what, namespace.output))
    elif command == "report":
        namespace = report_parser(PROG).parse_args(rest)
        asyncio.run(report(namespace.db, namespace.output))
    else:
        namespace = stats_parser().parse_args(rest)
        asyncio.run(_stats(namespace.db, as_json=namespace.json))


async def _stats(db: str, *, as_json: bool) -> None:
    storage = await open_storage(db, read_only=True)
    try:
        stats = await storage.stats()
        broken = await storage.broken_links(referrers_per_link=REFERRERS_SHOWN)
    finally:
        await storage.close()
    output: TextIO = sys.stdout
    if as_json:
        output.write(json.dumps(stats_as_dict(stats, broken)) + "\n")
    else:
        output.write(format_stats(stats, broken) + "\n")
