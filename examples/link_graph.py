"""A site's link graph: every page's links stored as edges, written out as an edge list.

    python -m http.server 8001 --bind 127.0.0.1 --directory examples/shop-site &
    python examples/link_graph.py http://127.0.0.1:8001/ storage/graph.db storage/edges.tsv

Each line of the edge list is `from<TAB>to`. The edges live in the crawl database as items,
so an interrupted run resumes where it stopped and the edge list is still complete.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from crawler import Config, Crawler, CrawlSummary, Page, Request, read_items

DB = Path(sys.argv[2] if len(sys.argv) > 2 else "storage/graph.db")
EDGES = Path(sys.argv[3] if len(sys.argv) > 3 else "storage/edges.tsv")

crawler = Crawler(Config(db=DB, max_pages=1000))


@crawler.route()
async def page_links(page: Page) -> AsyncIterator[dict[str, str] | Request]:
    """Every page: one edge per in-scope link, and follow the link."""
    for link in page.links():
        yield {"from": page.url, "to": link}
        yield page.follow(link)


@crawler.on_finish
async def write_edge_list(summary: CrawlSummary) -> None:
    lines = [f"{item.data['from']}\t{item.data['to']}\n" async for item in read_items(DB)]
    EDGES.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(EDGES.write_text, "".join(lines), encoding="utf-8")
    print(f"{summary.reason}: {summary.pages} pages this run; {len(lines)} edges in {EDGES}")


if __name__ == "__main__":
    crawler.run([sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001/"])
