"""Scrapy, the plain way: follow every link with response.follow. Run by bench/run.py as

scrapy runspider bench/scrapy_spider.py -a seed=URL -a out=FILE -s CONCURRENT_REQUESTS=64 ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(self, seed: str, out: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [seed]
        self.allowed_domains = [seed.split("/")[2].split(":", maxsplit=1)[0]]
        self.out = Path(out)
        self.pages = 0

    def parse(self, response: Response) -> Iterator[Any]:
        self.pages += 1
        if b"text/html" in (response.headers.get("Content-Type") or b""):
            yield from response.follow_all(css="a::attr(href)", callback=self.parse)

    def closed(self, reason: str) -> None:
        self.out.write_text(f"pages={self.pages}\n")
