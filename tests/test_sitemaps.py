"""Sitemaps: parsing (plain, gzip, index, broken, entity bombs) and discovery during a crawl."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from crawler.sitemaps import parse_sitemap
from tests.conftest import Handler, SiteFactory
from tests.test_engine import crawl

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*locs: str) -> bytes:
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>2026-01-01</lastmod></url>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{entries}</urlset>'.encode()


def index(*locs: str) -> bytes:
    entries = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f"<sitemapindex {NS}>{entries}</sitemapindex>".encode()


def test_a_urlset_lists_pages() -> None:
    found = parse_sitemap(urlset("http://h.test/a", " http://h.test/b "))

    assert (found.pages, found.sitemaps, found.error) == (
        ["http://h.test/a", "http://h.test/b"],
        [],
        None,
    )


def test_gzip_and_index_sitemaps() -> None:
    assert parse_sitemap(gzip.compress(urlset("http://h.test/a"))).pages == ["http://h.test/a"]
    assert parse_sitemap(index("http://h.test/s1.xml")).sitemaps == ["http://h.test/s1.xml"]


def test_broken_sitemaps_keep_what_was_read() -> None:
    complete = urlset("http://h.test/a", "http://h.test/b")
    broken = parse_sitemap(complete[: -len(b"</urlset>")] + b"<url><loc>http://h.test/c<<<")

    assert broken.pages == ["http://h.test/a", "http://h.test/b"]
    assert broken.error is not None
    assert parse_sitemap(b"\x1f\x8bnot gzip").error is not None


def test_an_entity_bomb_is_refused_quickly() -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE u [{entities}]><urlset><url><loc>&i;</loc></url></urlset>'
    )

    found = parse_sitemap(bomb.encode())

    assert found.pages == []
    assert found.error is not None


def xml_route(make: Callable[[str], bytes], content_type: str = "application/xml") -> Handler:
    """Serve the XML `make(origin)` builds for the origin the request came to."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=make(f"http://{request.host}"), content_type=content_type)

    return handler


async def orphan(_: web.Request) -> web.Response:
    return web.Response(text="nobody links here", content_type="text/html")


async def test_sitemaps_from_robots_txt_add_unlinked_pages_in_scope(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def robots(request: web.Request) -> web.Response:
        return web.Response(text=f"User-agent: *\nSitemap: http://{request.host}/maps/index.xml\n")

    routes = {
        "/robots.txt": robots,
        "/orphan": orphan,
        "/maps/index.xml": xml_route(lambda origin: index(f"{origin}/maps/pages.xml.gz")),
        "/maps/pages.xml.gz": xml_route(
            lambda origin: gzip.compress(urlset(f"{origin}/orphan", "http://elsewhere.test/x")),
            content_type="application/gzip",
        ),
    }
    site = await serve_site(2, routes=routes)

    _, without = await crawl(tmp_path / "a", [site.url("/")])
    _, with_maps = await crawl(tmp_path / "b", [site.url("/")], sitemaps=True)

    assert site.url("/orphan") not in {r.url for r in without}
    by_url = {r.url: r for r in with_maps}
    assert by_url[site.url("/orphan")].status == 200
    assert by_url[site.url("/orphan")].parent == site.url("/maps/pages.xml.gz")
    assert "http://elsewhere.test/x" not in by_url
    assert len(with_maps) == len(without) + 1


async def test_without_robots_the_default_sitemap_location_is_tried(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    routes = {"/orphan": orphan, "/sitemap.xml": xml_route(lambda o: urlset(f"{o}/orphan"))}
    site = await serve_site(0, routes=routes)

    _, records = await crawl(tmp_path, [site.url("/")], sitemaps=True, ignore_robots=True)

    assert site.url("/orphan") in {r.url for r in records}
