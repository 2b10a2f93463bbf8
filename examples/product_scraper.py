"""A product scraper with pagination: one item per product page of the demo shop.

    python -m http.server 8001 --bind 127.0.0.1 --directory examples/shop-site &
    python examples/product_scraper.py http://127.0.0.1:8001/ storage/shop.db
    python -m crawler export storage/shop.db --items

The same routes run from the command line, where flags and CRAWLER_* variables configure
the crawl:

    python -m crawler seeds.txt --parser examples/product_scraper.py:crawler
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

from crawler import Config, Crawler, Page, Request

crawler = Crawler(Config(db=Path("storage/shop.db"), max_pages=200, concurrency=16))


@crawler.route("http://*/product/*.html")
async def product(page: Page) -> AsyncIterator[dict[str, object]]:
    """A product page: its name, price, stock and SKU."""
    name = page.css_first("h1")
    price = page.css_first(".price")
    stock = page.css_first(".stock")
    sku = page.css_first(".sku")
    yield {
        "url": page.url,
        "name": name.text(strip=True) if name else None,
        "price": price.text(strip=True) if price else None,
        "in_stock": stock is not None and stock.text(strip=True) == "in stock",
        "sku": sku.text(strip=True) if sku else None,
        "listed_on": page.meta.get("listing"),
    }


@crawler.route("http://*/catalog/page-*.html")
async def listing(page: Page) -> AsyncIterator[Request]:
    """A catalogue page: follow its products (first) and the next page."""
    for link in page.links("li.product a"):
        yield page.follow(link, priority=1, meta={"listing": page.url})
    for link in page.links("a.next"):
        yield page.follow(link)


@crawler.route()
async def start(page: Page) -> AsyncIterator[Request]:
    """Any other page (the home page): find the catalogue."""
    for link in page.links("nav a"):
        if "/catalog/" in link:
            yield page.follow(link)


if __name__ == "__main__":
    start_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8001/"
    if len(sys.argv) > 2:
        crawler = crawler.with_config(Config(db=Path(sys.argv[2]), max_pages=200))
    summary = crawler.run([start_url])
    print(f"{summary.reason}: {summary.pages} pages, {summary.errors} errors")
