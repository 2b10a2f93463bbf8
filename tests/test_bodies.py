"""Keeping response bodies (store_bodies), and noindex keeping them out."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from crawler.parse import header_directives
from crawler.store.sqlite import SqliteStorage
from tests.conftest import Handler, Site, SiteFactory
from tests.test_engine import crawl

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def responder(body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, headers=headers)

    return handler


async def serve_mixed(serve_site: SiteFactory) -> Site:
    links = b'<a href="/logo.png">logo</a><a href="/secret">s</a><a href="/tagged">t</a>'
    return await serve_site(
        0,
        routes={
            "/home": responder(b"<html><body>" + links + b"</body></html>", "text/html"),
            "/logo.png": responder(PNG, "image/png"),
            "/secret": responder(
                b'<meta name="robots" content="noindex,follow"><p>private</p>', "text/html"
            ),
            "/tagged": responder(b"<p>tagged</p>", "text/html", {"X-Robots-Tag": "noindex"}),
        },
    )


async def stored_bodies(db: Path, urls: list[str]) -> dict[str, bytes | None]:
    storage = await SqliteStorage.open(db, read_only=True)
    try:
        return {url: await storage.body_of(url) for url in urls}
    finally:
        await storage.close()


@pytest.mark.parametrize(
    ("setting", "kept"),
    [
        ("none", set()),
        ("html", {"/home"}),
        ("all", {"/home", "/logo.png"}),
    ],
)
async def test_bodies_are_kept_as_configured_and_never_for_noindex_pages(
    tmp_path: Path, serve_site: SiteFactory, setting: str, kept: set[str]
) -> None:
    site = await serve_mixed(serve_site)
    paths = ["/home", "/logo.png", "/secret", "/tagged"]

    _, records = await crawl(tmp_path, [site.url("/home")], store_bodies=setting)
    bodies = await stored_bodies(tmp_path / "crawl.db", [site.url(p) for p in paths])

    assert {r.url.removeprefix(site.origin) for r in records} == set(paths)
    assert {p for p in paths if bodies[site.url(p)] is not None} == kept
    if "/logo.png" in kept:
        assert bodies[site.url("/logo.png")] == PNG


async def test_ignore_robots_meta_keeps_noindex_pages_too(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_mixed(serve_site)

    await crawl(tmp_path, [site.url("/home")], store_bodies="html", ignore_robots_meta=True)
    bodies = await stored_bodies(tmp_path / "crawl.db", [site.url("/secret")])

    assert bodies[site.url("/secret")] is not None


@pytest.mark.parametrize(
    ("header", "directives"),
    [
        ("noindex, nofollow", {"noindex", "nofollow"}),
        (
            "unavailable_after: 25 Jun 2010 15:00:00 PST",
            {"unavailable_after: 25 jun 2010 15:00:00 pst"},
        ),
        ("otherbot: noindex, crawler: nofollow", {"nofollow"}),
        ("otherbot: noindex", set()),
        ("max-snippet: 20, noarchive", {"max-snippet: 20", "noarchive"}),
    ],
)
def test_header_directives_for_our_agent(header: str, directives: set[str]) -> None:
    assert header_directives(header, "crawler") == directives
