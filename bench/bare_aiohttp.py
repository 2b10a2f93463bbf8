"""The reference loop: one aiohttp session, N tasks, selectolax links, yarl joins, a set.

    python bench/bare_aiohttp.py SEED_URL... [--concurrency 64]     # crawl the seeds' sites
    python bench/bare_aiohttp.py --urls FILE [--concurrency 64]     # fetch a list, no parsing

No persistence, no politeness, no limits: the practical ceiling of this stack. Prints pages=N.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp
from selectolax.lexbor import LexborHTMLParser
from yarl import URL


async def crawl(seeds: list[str], concurrency: int) -> int:
    hosts = {URL(seed).host for seed in seeds}
    seen = set(seeds)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for seed in seeds:
        queue.put_nowait(seed)
    pages = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal pages
            while True:
                url = await queue.get()
                try:
                    async with session.get(url) as response:
                        body = await response.read()
                        html = response.content_type == "text/html"
                    pages += 1
                    if html:
                        base = URL(url)
                        for node in LexborHTMLParser(body).css("a[href]"):
                            href = node.attributes.get("href")
                            if not href:
                                continue
                            link = base.join(URL(href)).with_fragment(None)
                            text = str(link)
                            if link.host in hosts and text not in seen:
                                seen.add(text)
                                queue.put_nowait(text)
                except (aiohttp.ClientError, ValueError, TimeoutError):
                    pass
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
    return pages


async def fetch_list(urls: list[str], concurrency: int) -> int:
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(url: str) -> int:
            async with limit, session.get(url) as response:
                await response.read()
                return 1

        return sum(await asyncio.gather(*(fetch(url) for url in urls)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seeds", nargs="*")
    parser.add_argument("--urls", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if args.urls:
        urls = args.urls.read_text().split()
        pages = asyncio.run(fetch_list(urls, args.concurrency))
    else:
        pages = asyncio.run(crawl(args.seeds, args.concurrency))
    print(f"pages={pages}")


if __name__ == "__main__":
    main()
