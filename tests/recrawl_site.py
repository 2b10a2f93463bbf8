"""A loopback site whose pages change between crawls, for the recrawl tests.

Page n lives at /p/n and links to its two children (a binary tree under /). A third of the
pages answer with an `ETag`, a third with a `Last-Modified`, a third with neither; each honours
the matching conditional request with a 304. The server counts what it sent by status, and
the conditional headers it received.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from tests.conftest import Handler, start_app

FIRST_MODIFIED = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ("etag", "last-modified", "none")


@dataclass
class ChangingSite:
    pages: int
    origin: str = ""
    versions: Counter[int] = field(default_factory=Counter)  # page: times it changed
    statuses: dict[int, int] = field(default_factory=dict)  # pages answering other than 200
    extra_links: dict[int, list[str]] = field(default_factory=dict)
    sent: Counter[int] = field(default_factory=Counter)  # responses by status
    asked_if: Counter[str] = field(default_factory=Counter)  # conditional headers received
    log: list[str] = field(default_factory=list)  # paths, in the order they were asked for
    delay_s: float = 0.0

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def page_urls(self) -> set[str]:
        return {self.url("/")} | {self.url(f"/p/{n}") for n in range(self.pages)}

    @staticmethod
    def kind(n: int) -> str:
        return KINDS[n % 3]

    def change(self, n: int, *links: str) -> None:
        """Page n gets a new body (and the links given, besides its own)."""
        self.versions[n] += 1
        self.extra_links.setdefault(n, []).extend(links)

    def reset_counts(self) -> None:
        self.sent.clear()
        self.asked_if.clear()
        self.log.clear()

    def body(self, n: int) -> str:
        children = [c for c in (2 * n + 1, 2 * n + 2) if c < self.pages]
        hrefs = [f"/p/{c}" for c in children] + self.extra_links.get(n, [])
        anchors = "".join(f'<a href="{href}">link</a>' for href in hrefs)
        return (
            f"<html><head><title>page {n} version {self.versions[n]}</title></head>"
            f"<body>{anchors}</body></html>"
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        if n >= self.pages:
            return self._answer(web.Response(status=404))
        if n in self.statuses:
            return self._answer(web.Response(status=self.statuses[n]))
        for name in ("If-None-Match", "If-Modified-Since"):
            if name in request.headers:
                self.asked_if[name] += 1
        headers = self._validators(n)
        if self._not_modified(request, n):
            return self._answer(web.Response(status=304, headers=headers))
        response = web.Response(text=self.body(n), content_type="text/html", headers=headers)
        return self._answer(response)

    def _validators(self, n: int) -> dict[str, str]:
        if self.kind(n) == "etag":
            return {"ETag": f'"{n}-{self.versions[n]}"'}
        if self.kind(n) == "last-modified":
            modified = FIRST_MODIFIED + timedelta(days=self.versions[n])
            return {"Last-Modified": format_datetime(modified, usegmt=True)}
        return {}

    def _not_modified(self, request: web.Request, n: int) -> bool:
        validators = self._validators(n)
        if "ETag" in validators:
            return request.headers.get("If-None-Match") == validators["ETag"]
        since = request.headers.get("If-Modified-Since")
        if "Last-Modified" not in validators or since is None:
            return False
        return parsedate_to_datetime(since) >= parsedate_to_datetime(validators["Last-Modified"])

    async def new_page(self, request: web.Request) -> web.StreamResponse:
        return self._answer(web.Response(text="<html>new</html>", content_type="text/html"))

    async def root(self, request: web.Request) -> web.StreamResponse:
        page = '<html><body><a href="/p/0">start</a></body></html>'
        return self._answer(web.Response(text=page, content_type="text/html"))

    def _answer(self, response: web.Response) -> web.Response:
        self.sent[response.status] += 1
        return response

    def app(self) -> web.Application:
        @web.middleware
        async def log(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path != "/robots.txt":
                self.log.append(request.path)
                await asyncio.sleep(self.delay_s)
            return await handler(request)

        app = web.Application(middlewares=[log])
        app.router.add_get("/", self.root)
        app.router.add_get(r"/p/{n:\d+}", self.page)
        app.router.add_get(r"/new/{n:\d+}", self.new_page)
        return app


async def start_changing_site(pages: int) -> tuple[ChangingSite, web.AppRunner]:
    site = ChangingSite(pages)
    runner, port = await start_app(site.app())
    site.origin = f"http://127.0.0.1:{port}"
    return site, runner
