"""Crawlee for Python: a ParselCrawler that enqueues every link on the same host.

python bench/crawlee_crawler.py SEED_URL [--concurrency 64] [--storage memory|file]
"""

from __future__ import annotations

import argparse
import asyncio

from crawlee import ConcurrencySettings
from crawlee.crawlers import ParselCrawler, ParselCrawlingContext
from crawlee.storage_clients import MemoryStorageClient


async def crawl(seed: str, concurrency: int, storage: str) -> int:
    settings = ConcurrencySettings(
        min_concurrency=concurrency, max_concurrency=concurrency, desired_concurrency=concurrency
    )
    options: dict[str, object] = {}
    if storage == "memory":
        options["storage_client"] = MemoryStorageClient()
    crawler = ParselCrawler(
        concurrency_settings=settings,
        max_request_retries=0,
        configure_logging=False,
        **options,  # type: ignore[arg-type]
    )

    @crawler.router.default_handler
    async def handler(context: ParselCrawlingContext) -> None:
        await context.enqueue_links()

    statistics = await crawler.run([seed])
    return int(statistics.requests_finished)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seed")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--storage", choices=("memory", "file"), default="memory")
    args = parser.parse_args()
    print(f"pages={asyncio.run(crawl(args.seed, args.concurrency, args.storage))}")


if __name__ == "__main__":
    main()
