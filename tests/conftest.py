"""Shared test servers: generated sites served by real aiohttp servers on loopback addresses."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.postgres_server import PostgresServer, binaries, started_server

# The caller's CRAWLER_* settings must not reach the crawls the tests run (each one would
# change them); the ones that configure the tests themselves are read first.
TEST_POSTGRES_DSN = os.environ.get("CRAWLER_TEST_POSTGRES_DSN", "").strip()
REQUIRE_POSTGRES = bool(os.environ.get("CRAWLER_REQUIRE_POSTGRES"))
REQUIRE_DOCKER = bool(os.environ.get("CRAWLER_REQUIRE_DOCKER"))
REQUIRE_TMUX = bool(os.environ.get("CRAWLER_REQUIRE_TMUX"))
REQUIRE_CHROMIUM = bool(os.environ.get("CRAWLER_REQUIRE_CHROMIUM"))
for _name in [name for name in os.environ if name.startswith("CRAWLER_")]:
    del os.environ[_name]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class InFlight:
    """Requests being served right now, and the most there ever were at once."""

    now: int = 0
    most: int = 0

    def enter(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def leave(self) -> None:
        self.now -= 1


@dataclass
class Site:
    """A generated site: page n lives at /p/n; every page is reachable from /."""

    pages: int
    host: str = "127.0.0.1"
    port: int = 0
    delay_s: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)  # every path but /robots.txt
    log: list[str] = field(default_factory=list)  # the same, in the order they came
    robots_hits: int = 0
    in_flight: InFlight = field(default_factory=InFlight)
    shared_in_flight: InFlight | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def expected_urls(self) -> set[str]:
        return {self.url("/")} | {self.url(f"/p/{n}") for n in range(self.pages)}

    def links_of(self, n: int) -> list[str]:
        """Links of page n: a binary tree (depth ~log2 n) plus the same pages spelled oddly."""
        children = [c for c in (2 * n + 1, 2 * n + 2) if c < self.pages]
        links = [f"/p/{c}" for c in children]
        links += [f"{c}" for c in children]  # relative to /p/n
        links += [f"{self.origin.upper().replace('HTTP', 'http')}/p/{c}#top" for c in children]
        links += [f"/p/../p/{c}?" for c in children]
        links += [f"./{(n * 7 + 3) % self.pages}", "/", "mailto:someone@example.com", "#"]
        return links

    def page(self, n: int) -> str:
        anchors = "".join(f'<a href="{href}">link</a>\n' for href in self.links_of(n))
        head = f"<!doctype html><html><head><title>page {n}</title></head>"
        return f"{head}<body>{anchors}</body></html>"


def site_app(site: Site, extra_routes: dict[str, Handler] | None = None) -> web.Application:
    async def root(_: web.Request) -> web.Response:
        return web.Response(
            text='<html><body><a href="/p/0">start</a></body></html>', content_type="text/html"
        )

    async def page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n >= site.pages:
            raise web.HTTPNotFound()
        return web.Response(text=site.page(n), content_type="text/html")

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/robots.txt":
            site.robots_hits += 1
        else:
            site.hits[request.path_qs] += 1
            site.log.append(request.path_qs)
        gauges = [site.in_flight] + ([site.shared_in_flight] if site.shared_in_flight else [])
        for gauge in gauges:
            gauge.enter()
        try:
            if site.delay_s:
                await asyncio.sleep(site.delay_s)
            return await handler(request)
        finally:
            for gauge in gauges:
                gauge.leave()

    app = web.Application(middlewares=[count])
    app.router.add_get("/", root)
    app.router.add_get(r"/p/{n:\d+}", page)
    for path, handler in (extra_routes or {}).items():
        app.router.add_get(path, handler)
    return app


async def start_app(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    server = web.TCPSite(runner, host, 0)
    await server.start()
    port: int = runner.addresses[0][1]
    return runner, port


SiteFactory = Callable[..., Awaitable[Site]]


def link_page(*hrefs: str) -> Handler:
    """A handler answering with an HTML page that links to each href."""

    async def handler(_: web.Request) -> web.Response:
        links = "".join(f'<a href="{href}">link</a>' for href in hrefs)
        return web.Response(text=links, content_type="text/html")

    return handler


@pytest.fixture
async def serve_site() -> AsyncIterator[SiteFactory]:
    """Start generated sites: `await serve_site(pages, host=..., delay_s=..., routes=...)`."""
    runners: list[web.AppRunner] = []

    async def start(
        pages: int,
        *,
        host: str = "127.0.0.1",
        delay_s: float = 0.0,
        routes: dict[str, Handler] | None = None,
        shared_in_flight: InFlight | None = None,
    ) -> Site:
        site = Site(pages=pages, host=host, delay_s=delay_s, shared_in_flight=shared_in_flight)
        app = site_app(site, routes)
        runner, site.port = await start_app(app, host)
        runners.append(runner)
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


async def wait_until(condition: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Poll `condition` every 10 ms; fail the test if it is still false after `timeout_s`."""
    for _ in range(int(timeout_s * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s} s")


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(
    *arguments: str,
    cwd: Path,
    stdin: bytes | None = None,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> CliResult:
    """Run `python -m crawler ARGS` as a real subprocess while this event loop keeps serving;
    `env` adds variables to the test's environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crawler",
        *arguments,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


@dataclass(frozen=True)
class MeasuredRun:
    returncode: int
    stderr: str
    elapsed_s: float
    peak_rss_mb: float


# Runs the CLI and, at exit, writes the process's own peak RSS (VmHWM) to stderr. wait4's
# ru_maxrss would not do: Linux carries the forking parent's peak across exec into it.
_MEASURED_MAIN = """
import atexit, re, runpy, sys
def report():
    with open("/proc/self/status") as status:
        peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    sys.stderr.write(f"peak-rss-kb: {peak}\\n")
atexit.register(report)
sys.argv = ["crawler", *sys.argv[1:]]
runpy.run_module("crawler", run_name="__main__")
"""


async def run_cli_measured(*arguments: str, cwd: Path, timeout_s: float = 120.0) -> MeasuredRun:
    """`run_cli`, plus the wall time and the peak RSS of the crawler process."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MEASURED_MAIN,
        *arguments,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr_bytes = await asyncio.wait_for(process.communicate(), timeout_s)
    elapsed = time.monotonic() - started
    stderr = stderr_bytes.decode()
    peak = re.search(r"peak-rss-kb: (\d+)", stderr)
    assert process.returncode is not None
    assert peak is not None, stderr
    return MeasuredRun(process.returncode, stderr, elapsed, int(peak.group(1)) / 1024)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run: CRAWLER_TEST_POSTGRES_DSN's, or a throwaway one.

    With neither a DSN nor initdb on the machine the PostgreSQL tests are skipped, unless
    CRAWLER_REQUIRE_POSTGRES is set (as CI does): then they fail."""
    if TEST_POSTGRES_DSN:
        yield PostgresServer(TEST_POSTGRES_DSN)
        return
    if binaries() is None:
        reason = "no PostgreSQL: set CRAWLER_TEST_POSTGRES_DSN or install the server"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    with started_server() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """The DSN of a new, empty database, dropped after the test."""
    dsn = postgres_server.create_database()
    yield dsn
    postgres_server.drop_database(dsn)
