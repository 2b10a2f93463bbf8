"""Item pipelines: clean the demo shop's products, drop the unusable ones, and write the rest
to a JSON Lines file of their own (the crawl database keeps them too).

    python -m http.server 8001 --bind 127.0.0.1 --directory examples/shop-site &
    python examples/pipeline_to_file.py http://127.0.0.1:8001/ storage/priced.db priced.jsonl

Pipelines run in the order they are registered; one returning None drops the item. A file
written by a pipeline gets every item at least once: after a crash, the pages that were in
flight are fetched again and their items written again.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from crawler import Config, Crawler, Page, Request

DB = Path(sys.argv[2] if len(sys.argv) > 2 else "storage/priced.db")
OUTPUT = Path(sys.argv[3] if len(sys.argv) > 3 else "storage/priced.jsonl")
PRICE = re.compile(r"(\d+(?:\.\d+)?)")

crawler = Crawler(Config(db=DB, max_pages=200))


@dataclass
class Product:
    url: str
    name: str
    price: str | float


@crawler.route("**/product/*.html")
async def product(page: Page) -> AsyncIterator[Product | Request]:
    name = page.css_first("h1")
    price = page.css_first(".price")
    yield Product(page.url, name.text(strip=True) if name else "", price.text() if price else "")
    for link in page.links():
        yield page.follow(link)


@crawler.route()
async def other(page: Page) -> AsyncIterator[Request]:
    for link in page.links():
        yield page.follow(link)


@crawler.pipeline
async def parse_price(item: Product, page: Page) -> Product | None:
    """Transform: "€4.25" becomes 4.25; an item without a number is dropped."""
    found = PRICE.search(str(item.price))
    if found is None:
        return None
    item.price = float(found.group(1))
    return item


@crawler.pipeline
async def require_name(item: Product, page: Page) -> Product | None:
    """Validate: a product needs a name."""
    return item if item.name else None


class JsonLinesWriter:
    """A pipeline that writes every item it sees to a file opened at start, closed at finish."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.output: TextIO | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.output = self.path.open("a", encoding="utf-8")

    async def __call__(self, item: Product, page: Page) -> Product:
        assert self.output is not None, "opened by on_start"
        self.output.write(json.dumps({"name": item.name, "price": item.price}) + "\n")
        return item

    async def close(self, *_: object) -> None:
        if self.output is not None:
            self.output.close()


writer = JsonLinesWriter(OUTPUT)
crawler.pipeline(writer)
crawler.on_start(writer.open)
crawler.on_finish(writer.close)


if __name__ == "__main__":
    summary = crawler.run([sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001/"])
    print(f"{summary.reason}: {summary.pages} pages; items in {OUTPUT}")
