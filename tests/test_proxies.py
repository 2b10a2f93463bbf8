"""Rotating proxies through a real forward proxy (proxy.py) and a dead one."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crawler.middleware import mask_credentials
from tests.conftest import SiteFactory
from tests.test_engine import crawl


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def forward_proxy() -> AsyncIterator[str]:
    """A real HTTP forward proxy on 127.0.0.1, started for the test."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-workers",
        "1",
        "--num-acceptors",
        "1",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


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
