"""Rotating proxies through a real forward proxy (proxy.py) and a dead one."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from crawler.config import read_proxies_file
from crawler.errors import ConfigError
from crawler.middleware import OutgoingRequest, RotatingProxy
from crawler.models import CrawlRequest, FetchResult
from crawler.store.sqlite import SqliteStorage
from crawler.urls import mask_credentials
from tests.conftest import Handler, SiteFactory, run_cli, start_app
from tests.test_engine import crawl


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ProxyProcess:
    url: str
    process: asyncio.subprocess.Process

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()


async def start_proxy(url: str, *arguments: str) -> ProxyProcess:
    """Run `python ARGUMENTS` (a proxy server) and wait until its port, in `url`, listens."""
    port = int(url.rsplit(":", 1)[1])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *arguments,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        break
    return ProxyProcess(url, process)


async def forward_proxy_process() -> ProxyProcess:
    """A real HTTP forward proxy (proxy.py) on 127.0.0.1."""
    port = free_port()
    return await start_proxy(
        f"http://127.0.0.1:{port}",
        *("-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port)),
        *("--num-workers", "1", "--num-acceptors", "1"),
    )


@pytest.fixture
async def forward_proxy() -> AsyncIterator[str]:
    proxy = await forward_proxy_process()
    try:
        yield proxy.url
    finally:
        await proxy.stop()


async def test_requests_go_through_the_proxies_in_turn(
    tmp_path: Path, serve_site: SiteFactory, forward_proxy: str
) -> None:
    site = await serve_site(6, host="127.0.0.2")
    dead = f"http://127.0.0.1:{free_port()}"

    _, through_proxy = await crawl(tmp_path / "a", [site.url("/")], proxy=[forward_proxy])
    hits_through_proxy = dict(site.hits), site.robots_hits
    _, through_dead = await crawl(tmp_path / "b", [site.url("/")], proxy=[dead], retries=0)

    assert {r.error for r in through_proxy} == {None}
    assert len(through_proxy) == 7
    assert hits_through_proxy == ({"/": 1, **{f"/p/{n}": 1 for n in range(6)}}, 1)
    # Through a dead proxy nothing reaches the site, not even the robots.txt request.
    assert [(r.status, r.error) for r in through_dead] == [(None, "proxy")]
    assert (dict(site.hits), site.robots_hits) == hits_through_proxy


def test_credentials_are_masked() -> None:
    assert mask_credentials("http://ann:s3cret@proxy.test:3128") == "http://ann:***@proxy.test:3128"
    assert mask_credentials("http://proxy.test:3128") == "http://proxy.test:3128"


def answering(status: int) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text="no")

    return handler


@pytest.fixture
async def fake_proxy() -> AsyncIterator[Callable[[int], Awaitable[str]]]:
    """Start servers that answer every proxied request with one status (banning, 407)."""
    runners: list[web.AppRunner] = []

    async def start(status: int) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answering(status))
        runner, port = await start_app(app)
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_dead_proxy_is_cooled_down_and_the_work_goes_through_the_live_one(
    tmp_path: Path, serve_site: SiteFactory, forward_proxy: str, caplog: pytest.LogCaptureFixture
) -> None:
    site = await serve_site(20, host="127.0.0.2")
    dead = f"http://ann:s3cret@127.0.0.1:{free_port()}"
    caplog.set_level(logging.INFO, logger="crawler")

    _, records = await crawl(tmp_path, [site.url("/")], proxy=[dead, forward_proxy], retries=0)

    assert {r.error for r in records} == {None}
    assert len(records) == 21
    assert "s3cret" not in caplog.text
    counts = next(r.proxies for r in caplog.records if hasattr(r, "proxies"))
    assert counts["http://ann:***@" + dead.split("@")[1]]["failures"] >= 1
    live = counts[forward_proxy]
    assert (live["requests"], live["failures"], live["bans"], live["evicted"]) == (22, 0, 0, 0)
    assert live["avg_latency_ms"] >= 0
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    stats = await storage.stats()
    await storage.close()
    assert stats.proxies[forward_proxy].requests == 22
    assert "s3cret" not in str(stats.proxies)


async def test_banning_and_407_proxies_are_cooled_down_for_the_good_one(
    tmp_path: Path,
    serve_site: SiteFactory,
    forward_proxy: str,
    fake_proxy: Callable[[int], Awaitable[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = await serve_site(5, host="127.0.0.2")
    banning = await fake_proxy(403)
    refusing = await fake_proxy(407)
    caplog.set_level(logging.INFO, logger="crawler")

    _, records = await crawl(
        tmp_path, [site.url("/")], proxy=[banning, refusing, forward_proxy], retries=0
    )

    assert [(r.status, r.error) for r in records] == [(200, None)] * 6
    counts = next(r.proxies for r in caplog.records if hasattr(r, "proxies"))
    assert counts[banning]["bans"] >= 1
    assert counts[refusing]["failures"] >= 1


async def test_with_every_proxy_evicted_nothing_goes_out_directly(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3, host="127.0.0.2")
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]

    _, records = await crawl(tmp_path, [site.url("/")], proxy=dead, retries=0)

    assert [(r.status, r.error) for r in records] == [(None, "proxy")]
    assert not site.hits
    assert site.robots_hits == 0


async def test_sticky_keeps_a_host_on_one_proxy(
    tmp_path: Path, serve_site: SiteFactory, forward_proxy: str, caplog: pytest.LogCaptureFixture
) -> None:
    second = await forward_proxy_process()
    site = await serve_site(10, host="127.0.0.2")
    caplog.set_level(logging.INFO, logger="crawler")
    try:
        await crawl(
            tmp_path, [site.url("/")], proxy=[forward_proxy, second.url], proxy_strategy="sticky"
        )
    finally:
        await second.stop()

    counts = next(r.proxies for r in caplog.records if hasattr(r, "proxies"))
    used = sorted(c["requests"] for c in counts.values())
    assert used == [0, 12]  # 11 pages and the robots.txt, all through one proxy


def test_a_proxies_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "proxies.txt"
    good.write_text("# office proxies\nhttp://10.0.0.5:3128\n\nhttps://u:p@proxy.test:8443\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("http://ok:1\nsocks9://nope\n")

    assert read_proxies_file(good) == ["http://10.0.0.5:3128", "https://u:p@proxy.test:8443"]
    with pytest.raises(ConfigError, match=r"bad\.txt:2: not an http\(s\) or socks proxy URL"):
        read_proxies_file(bad)


async def test_a_bad_proxies_file_stops_the_cli_before_the_database_is_made(
    tmp_path: Path,
) -> None:
    (tmp_path / "seeds.txt").write_text("http://127.0.0.1:9/\n")
    (tmp_path / "bad.txt").write_text("http://ok:1\nsocks9://nope\n")

    result = await run_cli(
        "seeds.txt", "--db", "crawl.db", "--proxies-file", "bad.txt", cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "crawler: error: bad value for 'proxies_file' from --proxies-file:"
        " bad.txt:2: not an http(s) or socks proxy URL"
    )
    assert not (tmp_path / "crawl.db").exists()


async def test_a_proxy_failing_five_times_in_a_row_is_evicted() -> None:
    now = [0.0]
    rotation = RotatingProxy(["http://bad:1", "http://good:2"], clock=lambda: now[0])
    request = OutgoingRequest(CrawlRequest("http://h.test/", "h.test", 0))
    used: list[str | None] = []

    async def send(sent: OutgoingRequest) -> FetchResult:
        used.append(sent.proxy)
        error = "proxy" if sent.proxy == "http://bad:1" else None
        return FetchResult(sent.crawl, sent.url, None if error else 200, None, b"", error, "", 0)

    for _ in range(5):
        result = await rotation(request, send)
        assert result.status == 200
        now[0] += 1000  # past any cooldown

    assert used.count("http://bad:1") == 5
    assert rotation.figures["http://bad:1"].evicted
    used.clear()
    await rotation(request, send)
    assert used == ["http://good:2"]


async def test_each_proxy_carries_at_most_its_concurrency(
    tmp_path: Path, serve_site: SiteFactory, forward_proxy: str
) -> None:
    site = await serve_site(30, host="127.0.0.2", delay_s=0.02)

    _, records = await crawl(
        tmp_path,
        [site.url("/")],
        proxy=[forward_proxy],
        proxy_concurrency=2,
        concurrency=16,
        per_host=16,
    )

    assert len(records) == 31
    assert site.in_flight.most == 2


@pytest.fixture
async def socks_proxy() -> AsyncIterator[str]:
    """A real SOCKS5 proxy (pproxy) on 127.0.0.1, started for the test."""
    port = free_port()
    # pproxy picks uvloop when it is installed and then finds no event loop: keep it on asyncio.
    script = (
        "import sys; sys.modules['uvloop'] = None; "
        f"sys.argv = ['pproxy', '-l', 'socks5://127.0.0.1:{port}']; "
        "from pproxy.server import main; main()"
    )
    proxy = await start_proxy(f"socks5://127.0.0.1:{port}", "-c", script)
    try:
        yield proxy.url
    finally:
        await proxy.stop()


async def test_socks5_proxies_carry_the_crawl_and_dead_ones_give_proxy_errors(
    tmp_path: Path, serve_site: SiteFactory, socks_proxy: str
) -> None:
    site = await serve_site(4, host="127.0.0.2")
    dead = f"socks5://127.0.0.1:{free_port()}"

    _, through_socks = await crawl(tmp_path / "a", [site.url("/")], proxy=[socks_proxy])
    hits = dict(site.hits)
    _, through_dead = await crawl(tmp_path / "b", [site.url("/")], proxy=[dead], retries=0)

    assert [(r.status, r.error) for r in through_socks] == [(200, None)] * 5
    assert [(r.status, r.error) for r in through_dead] == [(None, "proxy")]
    assert dict(site.hits) == hits


def test_an_unknown_rotation_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown proxy strategy 'fastest'"):
        RotatingProxy(["http://p:1"], strategy="fastest")  # type: ignore[arg-type]
