"""Pages as old sites and static-site generators serve them: HTML without its Content-Type
(sniffed as browsers do), and redirects made with `<meta http-equiv="refresh">`."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from aiohttp import web

from crawler.parse import extract_links, meta_refresh, refresh_target
from crawler.sniff import sniffed_type
from tests.conftest import Handler, SiteFactory, link_page
from tests.hostile import HostileServer, respond, untyped
from tests.test_engine import crawl

PAGE = b"<!DOCTYPE html><html><body><a href='/p/0'>start</a></body></html>"


def raw(body: bytes, headers: dict[str, str]) -> Handler:
    """Answers `body` with `headers` and no other Content-Type (a StreamResponse adds none)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body)
        return response

    return handler


def refresh(content: str, *, body: str = "") -> Handler:
    async def handler(_: web.Request) -> web.Response:
        meta = f'<meta http-equiv="refresh" content="{content}">'
        return web.Response(
            text=f"<html><head>{meta}</head>{body}</html>", content_type="text/html"
        )

    return handler


@pytest.mark.parametrize(
    ("headers", "parsed", "recorded_type"),
    [
        ({"Content-Type": "application/octet-stream"}, True, "text/html"),
        ({"Content-Type": "text/plain"}, True, "text/html"),
        ({"Content-Type": "text/plain", "X-Content-Type-Options": "nosniff"}, False, "text/plain"),
        ({"Content-Type": "image/png"}, False, "image/png"),
    ],
)
async def test_html_sent_as_a_type_that_says_nothing_is_sniffed_and_parsed(
    tmp_path: Path,
    serve_site: SiteFactory,
    headers: dict[str, str],
    parsed: bool,
    recorded_type: str,
) -> None:
    site = await serve_site(3, routes={"/legacy": raw(PAGE, headers)})

    _, records = await crawl(tmp_path, [site.url("/legacy")])

    legacy = next(record for record in records if record.url == site.url("/legacy"))
    assert legacy.content_type == recorded_type
    assert (site.hits["/p/0"] == 1) is parsed  # its link was followed only if it was parsed


async def test_a_response_without_a_content_type_is_sniffed(tmp_path: Path) -> None:
    server = HostileServer(
        {"/page": untyped(PAGE), "/p/0": respond(b"<p>linked</p>"), "/file": untyped(b"%PDF-1.4")}
    )
    await server.start()
    try:
        _, records = await crawl(
            tmp_path, [server.url("/page"), server.url("/file")], ignore_robots=True
        )
    finally:
        await server.close()

    by_path = {r.url.removeprefix(server.url("")): (r.status, r.content_type) for r in records}
    assert by_path == {
        "/page": (200, "text/html"),
        "/p/0": (200, "text/html"),
        "/file": (200, None),
    }
    assert sorted(server.requests) == ["/file", "/p/0", "/page"]


async def test_a_meta_refresh_is_followed_like_a_redirect(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3, routes={"/old": refresh("0; url=/p/0")})

    _, records = await crawl(tmp_path, [site.url("/old")])

    by_url = {record.url: record for record in records}
    old, target = by_url[site.url("/old")], by_url[site.url("/p/0")]
    assert (old.status, old.final_url, old.redirects, old.error) == (200, site.url("/p/0"), 1, None)
    assert target.parent == site.url("/old")
    assert site.hits["/old"] == 1
    assert site.hits["/p/0"] == 1
    assert len(records) == len(by_url) == 5  # /old, /p/0..2 (linked from /p/0), and /


async def test_meta_refreshes_that_are_not_redirects_are_left_alone(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    routes = {
        "/slow": refresh("300; url=/p/0"),  # a page that reloads itself every five minutes
        "/self": refresh("1"),
        "/same": refresh("0; url=/same"),
    }
    site = await serve_site(1, routes=routes)

    _, records = await crawl(tmp_path, [site.url(path) for path in routes])

    assert {(r.url.removeprefix(site.origin), r.status, r.redirects, r.error) for r in records} == {
        ("/slow", 200, 0, None),
        ("/self", 200, 0, None),
        ("/same", 200, 0, None),
    }
    assert "/p/0" not in site.hits


async def test_meta_refreshes_get_the_checks_of_redirects(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    other = await serve_site(1, host="127.0.0.3")
    routes = {
        "/a": refresh("0;URL='/b'"),
        "/b": refresh("0; url=/a"),
        "/hub": link_page("/away"),
        "/away": refresh(f"0; {other.url('/')}"),
    }
    site = await serve_site(0, host="127.0.0.2", routes=routes)

    _, records = await crawl(
        tmp_path, [site.url("/a"), site.url("/hub")], allow_private_networks=True
    )

    errors = {record.url.removeprefix(site.origin): record.error for record in records}
    assert errors == {
        "/a": "redirect_loop", "/b": "redirect_loop", "/hub": None, "/away": "out_of_scope"
    }  # fmt: skip
    assert site.hits == {"/a": 1, "/b": 1, "/hub": 1, "/away": 1}
    assert not other.hits


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; url=/new/", (0.0, "/new/")),
        ("5;URL='http://x.test/a'", (5.0, "http://x.test/a")),
        ("3, /b", (3.0, "/b")),
        ("2.5 ; url = next.html", (2.0, "next.html")),
        (".5;url=/half", (0.0, "/half")),
        ("30", None),  # no URL: the page reloads itself
        ("1e5", None),  # not a refresh
        ("soon; url=/x", None),
    ],
)
def test_refresh_content_is_read_as_the_html_standard_says(
    content: str, expected: tuple[float, str] | None
) -> None:
    assert refresh_target(content) == expected


@pytest.mark.parametrize(
    ("head", "target"),
    [
        ("<META content=\"0; url=/next?a=1&amp;b=2\" HTTP-EQUIV='Refresh'>", "/next?a=1&b=2"),
        ('<meta http-equiv="refresh" content="&#48;; url=/x">', "/x"),
        ('<base href="/docs/"><meta http-equiv="refresh" content="0;url=v2/">', "/docs/v2/"),
        ('<!-- <meta http-equiv="refresh" content="0; url=/old"> -->', None),
        ("<script>s='<meta http-equiv=refresh content=0;url=/js>'</script>", None),
        ('<noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript>', None),
        ('<meta http-equiv="refresh" content="150; url=/later">', None),
    ],
)
def test_a_meta_refresh_is_read_from_the_page_as_a_browser_reads_it(
    head: str, target: str | None
) -> None:
    found = meta_refresh(f"<html><head>{head}</head></html>".encode(), "http://e.test/p/q")

    assert (found.url if found else None) == (f"http://e.test{target}" if target else None)


def test_a_meta_refresh_on_a_legacy_page_is_read_in_its_encoding() -> None:
    body = '<meta http-equiv="refresh" content="0; url=/café?q=é">'.encode("cp1252")

    found = meta_refresh(body, "http://e.test/", "windows-1252")

    assert found is not None
    assert found.url == "http://e.test/caf%C3%A9?q=%E9"  # path in UTF-8, query as the page


def test_a_utf16_page_links_with_utf8_queries() -> None:
    body = codecs.BOM_UTF16_LE + '<a href="/s?q=é">x</a>'.encode("utf-16-le")

    links = extract_links(body, "http://e.test/")

    assert [link.url for link in links] == ["http://e.test/s?q=%C3%A9"]


def test_sniffing_follows_the_whatwg_html_patterns() -> None:
    html_starts = [b"  <!DOCTYPE html>", b"<HTML>", b"\n<head>", b"<p>hi", b"<!-- x -->", b"<br>"]
    others = [b"<htmlx>", b"<?xml version='1.0'?>", b"%PDF", b'{"a": 1}', b"", b"<pre>"]

    assert all(sniffed_type(None, body, {}) == "text/html" for body in html_starts)
    assert all(sniffed_type(None, body, {}) is None for body in others)
    assert sniffed_type("application/json", b"<html>", {}) == "application/json"
