"""Links resolved as browsers resolve them (the WHATWG URL Standard), in the crawler's canonical
form: each kind of link real pages hold that a non-browser resolver gets wrong, then the same
links on a loopback site, the server counting what it was asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from crawler.urls import LinkResolver, resolve_link
from tests.conftest import run_cli, start_app

BASE = "http://site.test/docs/guide/page.html?from=menu"


@pytest.mark.parametrize(
    ("href", "url"),
    [
        # backslashes, from sites made on Windows: read as slashes
        ("..\\setup.htm", "http://site.test/docs/setup.htm"),
        ("img\\logo.png", "http://site.test/docs/guide/img/logo.png"),
        ("\\\\other.test\\a", "http://other.test/a"),
        # spaces: %20 in the path and in the query (never +)
        ("a b.html?q=x y", "http://site.test/docs/guide/a%20b.html?q=x%20y"),
        # escapes of reserved characters stay escaped; unreserved ones are decoded
        ("/p%3Aq%40r%3D%28", "http://site.test/p%3Aq%40r%3D%28"),
        ("/%7Euser/%41", "http://site.test/~user/A"),
        ("/a%2fb", "http://site.test/a%2Fb"),
        # a broken escape is left as it is, not encoded again
        ("/%2z/%", "http://site.test/%2z/%"),
        # numeric IPv4 forms become dotted quads
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433/x", "http://127.0.0.1/x"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        # what browsers also do
        ("?", "http://site.test/docs/guide/page.html"),
        ("??", "http://site.test/docs/guide/page.html??"),  # the query is `?`: not empty
        ("HTTP://User:Pw@Site.TEST:80/a/./b/../c?#f", "http://site.test/a/c"),
        ("http://site.test/a/%2e%2E/b", "http://site.test/b"),
        ("  /trim\t\nmed  ", "http://site.test/trimmed"),
        ("//cdn.test", "http://cdn.test/"),
        ("http://xn--bcher-kva.test/", "http://xn--bcher-kva.test/"),
        ("http://Bücher.test/", "http://xn--bcher-kva.test/"),
        ("https://site.test:443/x", "https://site.test/x"),
    ],
)
def test_links_resolve_as_in_a_browser(href: str, url: str) -> None:
    target = LinkResolver(BASE).resolve(href)

    assert target is not None
    assert target.url == url


@pytest.mark.parametrize(
    "href",
    [
        "http://./",  # no host left
        "http://a b.test/",  # a space in a host
        "http://a<b.test/",  # a forbidden host character
        "http://256.256.256.256/",  # an IPv4 number out of range
        "http://1.2.3.4.5/",
        "http://site.test:99999/",
        "http://[::1/",
        "mailto:someone@site.test",
        "javascript:void(0)",
        "#top",
        "",
    ],
)
def test_links_no_browser_would_follow_are_dropped(href: str) -> None:
    assert LinkResolver(BASE).resolve(href) is None


@pytest.mark.parametrize(
    ("encoding", "query"),
    [
        ("cp1251", "q=%CF%F0%E8%E2%E5%F2"),  # windows-1251
        ("shift_jis", "q=%93%FA%96%7B"),
        ("cp1251", "q=%26%2326085%3B%26%2326412%3B"),  # what it cannot encode: &#N;
        (None, "q=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82"),  # UTF-8
    ],
)
def test_a_query_is_encoded_in_the_page_encoding(encoding: str | None, query: str) -> None:
    text = "Привет" if query.startswith(("q=%CF", "q=%D0")) else "日本"
    target = resolve_link(BASE, f"/search?q={text}#results", encoding)

    assert target is not None
    assert target.url == f"http://site.test/search?{query}"


LEGACY_PAGE = """<html><head><title>Старый сайт</title></head><body>
<a href="dir\\page.htm">backslash</a> <a href="/search?q=Привет">query</a>
<a href="/p%3Aq">escaped colon</a> <a href="/a b.html?x=y z">spaces</a>
</body></html>"""


async def test_a_crawl_requests_what_a_browser_would(tmp_path: Path) -> None:
    """A windows-1251 page of old-fashioned links: the server is asked for what a browser
    would ask for, and nothing else."""
    asked: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        asked.append(request.raw_path)
        if request.raw_path == "/":
            body = LEGACY_PAGE.encode("cp1251")
            return web.Response(body=body, content_type="text/html", charset="windows-1251")
        return web.Response(text="<p>ok</p>", content_type="text/html")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner, port = await start_app(app)
    try:
        (tmp_path / "seeds.txt").write_text(f"http://127.0.0.1:{port}/\n")
        crawl = await run_cli(
            "seeds.txt", "--db", "c.db", "--no-progress", "--ignore-robots", cwd=tmp_path
        )
    finally:
        await runner.cleanup()

    assert crawl.returncode == 0, crawl.stderr
    assert sorted(asked) == sorted(
        ["/", "/dir/page.htm", "/search?q=%CF%F0%E8%E2%E5%F2", "/p%3Aq", "/a%20b.html?x=y%20z"]
    )
