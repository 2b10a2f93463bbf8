"""Prometheus metrics: scraped over HTTP during a real crawl, checked against the export."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from crawler import Config, Crawler
from tests.conftest import SiteFactory, link_page, run_cli
from tests.test_fleet import serve_hosts, write_seeds
from tests.test_proxies import forward_proxy_process, free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    """One labelled counter as {label value: count}, zeros left out."""
    return {
        dict(labels)[label]: value
        for (found, labels), value in samples.items()
        if found == name and value
    }


async def scrape(port: int) -> Samples | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            return parse_metrics(await response.text())
    except aiohttp.ClientError:
        return None  # not serving yet


def many_links(count: int) -> web.Response:
    links = "".join(f'<a href="/many/{n}">x</a>' for n in range(count))
    return web.Response(text=links, content_type="text/html")


async def test_metrics_scraped_during_a_crawl_match_the_export(
    serve_site: SiteFactory, tmp_path: Path
) -> None:
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late", content_type="text/html")

    async def unavailable(_: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "0"})

    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private\n")

    async def many(_: web.Request) -> web.Response:
        return many_links(8)

    async def leaf(_: web.Request) -> web.Response:
        return web.Response(text="leaf", content_type="text/html")

    site = await serve_site(
        6,
        routes={
            "/extra": link_page("/hang", "/gone", "/busy", "/private/x", "/many"),
            "/hang": hang,
            "/busy": unavailable,
            "/robots.txt": robots,
            "/many": many,
            "/many/{n}": leaf,
        },
    )
    (tmp_path / "seeds.txt").write_text(f"{site.url('/')}\n{site.url('/extra')}\n")
    port = free_port()
    crawl = asyncio.create_task(
        run_cli(
            "seeds.txt",
            "--metrics-port", str(port),
            "--retries", "2",
            "--max-links-per-page", "5",
            "--allow-private-networks",
            "--no-progress",
            cwd=tmp_path,
        )
    )  # fmt: skip
    # Every page but /hang: 2 seeds, 6 pages, /gone, /busy, /private/x, /many and 5 of its 8.
    expected_before_release = 2 + 6 + 4 + 5
    during: Samples | None = None
    for _ in range(600):
        during = await scrape(port)
        if during and during[("crawler_pages_total", ())] == expected_before_release:
            break
        assert not crawl.done(), (await crawl).stderr
        await asyncio.sleep(0.05)
    assert during is not None
    assert during[("crawler_in_flight", ())] == 1  # /hang
    assert during[("crawler_active_hosts", ())] == 1
    assert during[("crawler_queued", ())] == 0
    release.set()
    result = await crawl
    assert result.returncode == 0, result.stderr

    export = await run_cli("export", "storage/crawl.db", cwd=tmp_path)
    records = [json.loads(line) for line in export.stdout.splitlines()]
    before = [record for record in records if not record["url"].endswith("/hang")]
    assert len(before) == expected_before_release
    statuses = Counter(str(r["status"]) for r in before if r["status"] is not None)
    errors = Counter(r["error"] for r in before if r["error"] is not None)
    assert labelled(during, "crawler_responses_total", "status") == statuses
    assert labelled(during, "crawler_errors_total", "kind") == errors
    assert errors["robots"] == 1 == during[("crawler_robots_denied_total", ())]
    assert during[("crawler_body_bytes_total", ())] == sum(
        r["size"] for r in before if r["status"] is not None
    )
    retries = sum(r["retries"] for r in before)
    assert retries == 2 == during[("crawler_retries_total", ())]
    # Every request that went out: one per answered page, plus the retries (robots.txt
    # fetches are not pages and are not counted; the robots-denied URL never went out).
    answered = sum(1 for r in before if r["status"] is not None)
    assert during[("crawler_requests_total", ())] == answered + retries
    assert during[("crawler_fetch_seconds_count", ())] == answered + retries
    assert during[("crawler_page_bytes_count", ())] == answered
    stats = await run_cli("stats", "--json", "storage/crawl.db", cwd=tmp_path)
    dropped = json.loads(stats.stdout)["limits_hit"]
    assert dropped == {"links_per_page": 3}
    assert labelled(during, "crawler_links_dropped_total", "limit") == dropped


async def test_a_metrics_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "seeds.txt").write_text("http://127.0.0.1:9/\n")
        result = await run_cli("seeds.txt", "--metrics-port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"crawler: error: cannot serve metrics on port {port}: Address already in use"
    )
    assert not (tmp_path / "storage").exists()  # stopped before the database was made


@pytest.fixture
async def proxy_url() -> AsyncIterator[str]:
    proxy = await forward_proxy_process()
    try:
        yield proxy.url
    finally:
        await proxy.stop()


async def test_the_library_exposes_the_registry_and_proxy_figures(
    serve_site: SiteFactory, tmp_path: Path, proxy_url: str
) -> None:
    site = await serve_site(3, host="127.0.0.2")
    config = Config(
        db=tmp_path / "crawl.db",
        metrics_port=free_port(),
        proxy=(proxy_url,),
        allow_private_networks=True,
        progress=False,
    )
    crawler = Crawler(config)
    summary = await crawler.crawl([site.url("/")])
    assert crawler.metrics is not None
    registry = crawler.metrics.registry
    assert registry.get_sample_value("crawler_pages_total") == summary.pages == 4
    proxy = {"proxy": proxy_url}
    assert registry.get_sample_value("crawler_requests_total") == 4
    # The proxy also carried robots.txt, which is not a page request.
    assert registry.get_sample_value("crawler_proxy_requests_total", proxy) == 5
    assert registry.get_sample_value("crawler_proxy_failures_total", proxy) == 0
    assert registry.get_sample_value("crawler_proxy_evicted", proxy) == 0


async def test_each_process_of_a_fleet_serves_its_own_port(
    tmp_path: Path, serve_site: SiteFactory, postgres_dsn: str
) -> None:
    # About 4 s of crawling: both processes get pages even when the second starts a second late.
    sites = await serve_hosts(serve_site, 40, delay_s=0.1)
    seeds = write_seeds(tmp_path, sites)
    port = free_port()
    crawl = asyncio.create_task(
        run_cli(
            str(seeds), "--db", postgres_dsn, "--processes", "2", "--per-host", "2",
            "--concurrency", "4", "--metrics-port", str(port), "--no-progress",
            cwd=tmp_path, timeout_s=120,
        )
    )  # fmt: skip
    counted: dict[int, float] = {}
    for _ in range(600):
        for own in (port, port + 1):
            samples = await scrape(own)
            if samples:
                counted[own] = samples[("crawler_pages_total", ())]
        if len(counted) == 2 and all(counted.values()):
            break
        assert not crawl.done(), (await crawl).stderr
        await asyncio.sleep(0.05)
    assert sorted(counted) == [port, port + 1]
    assert all(counted.values()), counted
    assert (await crawl).returncode == 0
