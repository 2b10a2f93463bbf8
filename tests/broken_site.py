"""A small site with a broken link of each sort, served on loopback, and its crawl by the CLI:
what the `stats` and `report` tests read."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.conftest import Site, SiteFactory, link_page, run_cli

ROBOTS = "User-agent: *\nDisallow: /private/\n"
TRAP = "/x/y/x/y/x/y/x/y"  # a segment repeated past max_segment_repeats


@dataclass(frozen=True)
class BrokenSite:
    """/start links to /a, /b and /c, which link on: /gone (404) from four pages, /error (500)
    from /a, a closed port from /start; /private/ is denied by robots.txt, TRAP is a trap."""

    site: Site
    down: str  # a URL on a port nothing listens on

    def url(self, path: str) -> str:
        return self.site.url(path)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _robots(_: web.Request) -> web.Response:
    return web.Response(text=ROBOTS)


async def _error(_: web.Request) -> web.Response:
    return web.Response(status=500, text="oops")


async def serve_broken_site(serve_site: SiteFactory) -> BrokenSite:
    down = f"http://127.0.0.1:{_closed_port()}/down"
    site = await serve_site(
        0,
        routes={
            "/robots.txt": _robots,
            "/start": link_page("/a", "/b", "/c", "/private/secret", "/gone", down),
            "/a": link_page("/gone", "/error", "/b"),
            "/b": link_page("/gone", "/a"),
            "/c": link_page("/gone", TRAP),
            "/error": _error,
        },
    )
    return BrokenSite(site, down)


async def crawl_broken_site(tmp_path: Path, serve_site: SiteFactory) -> BrokenSite:
    """Serve the site and crawl it from /start into tmp_path/crawl.db, without retries."""
    broken = await serve_broken_site(serve_site)
    (tmp_path / "seeds.txt").write_text(broken.url("/start") + "\n")
    crawl = await run_cli(
        "seeds.txt", "--db", "crawl.db", "--no-progress", "--retries", "0", cwd=tmp_path
    )
    assert crawl.returncode == 0, crawl.stderr
    return broken
