"""Fetch a list of URLs with Requests (a thread pool) or HTTPX (async), N at a time.

python bench/seed_clients.py requests|httpx URL_FILE [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import requests
from requests.adapters import HTTPAdapter


def with_requests(urls: list[str], concurrency: int) -> int:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))

    def fetch(url: str) -> int:
        return 1 if session.get(url, timeout=30).content is not None else 0

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(fetch, urls))


async def with_httpx(urls: list[str], concurrency: int) -> int:
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def fetch(url: str) -> int:
            async with limit:
                return 1 if (await client.get(url)).content is not None else 0

        return sum(await asyncio.gather(*(fetch(url) for url in urls)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=("requests", "httpx"))
    parser.add_argument("urls", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    urls = args.urls.read_text().split()
    if args.client == "requests":
        pages = with_requests(urls, args.concurrency)
    else:
        pages = asyncio.run(with_httpx(urls, args.concurrency))
    print(f"pages={pages}")


if __name__ == "__main__":
    main()
