"""Redirects, followed by hand: every hop checked (scheme, loops, count, scope, robots, records)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tests.conftest import Handler, SiteFactory, link_page
from tests.test_engine import crawl


def redirect(to: str, status: type[web.HTTPMove] = web.HTTPFound) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        raise status(to)

    return handler


async def test_a_redirect_is_followed_and_its_target_recorded_once(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(3, routes={"/old": redirect("/p/0", web.HTTPMovedPermanently)})

    _, records = await crawl(tmp_path, [site.url("/old")])

    by_url = {record.url: record for record in records}
    old, target = by_url[site.url("/old")], by_url[site.url("/p/0")]
    assert (old.status, old.final_url, old.redirects, old.error) == (200, site.url("/p/0"), 1, None)
    assert (target.status, target.final_url, target.redirects) == (200, site.url("/p/0"), 0)
    assert target.sha256 == old.sha256
    assert target.parent == site.url("/old")
    assert site.hits["/p/0"] == 1  # /p/0 is linked from other pages too, but was not fetched again
    assert len(records) == len(set(by_url))


async def test_loops_are_detected(tmp_path: Path, serve_site: SiteFactory) -> None:
    routes = {"/self": redirect("/self"), "/a": redirect("/b"), "/b": redirect("/a")}
    site = await serve_site(0, routes=routes)

    _, records = await crawl(tmp_path, [site.url("/self"), site.url("/a")])

    errors = {record.url.removeprefix(site.origin): record.error for record in records}
    assert errors == {"/self": "redirect_loop", "/a": "redirect_loop", "/b": "redirect_loop"}
    assert site.hits["/self"] == 1
    assert site.hits["/a"] == 1


async def test_at_most_ten_hops_are_followed(tmp_path: Path, serve_site: SiteFactory) -> None:
    async def chain(request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        if left == 0:
            return web.Response(text="end of the chain")
        raise web.HTTPFound(f"/{request.match_info['name']}/{left - 1}")

    site = await serve_site(0, routes={r"/{name}/{left:\d+}": chain})

    _, records = await crawl(tmp_path, [site.url("/ten/10"), site.url("/eleven/11")])

    by_url = {record.url: record for record in records}
    ten, eleven = by_url[site.url("/ten/10")], by_url[site.url("/eleven/11")]
    assert (ten.status, ten.final_url, ten.redirects) == (200, site.url("/ten/0"), 10)
    assert eleven.error == "too_many_redirects"
    assert by_url[site.url("/ten/3")].redirects == 3
    assert sum(1 for path in site.hits if path.startswith("/ten/")) == 11


async def test_a_redirect_out_of_scope_is_not_followed(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    other = await serve_site(1, host="127.0.0.3")
    site = await serve_site(
        0, host="127.0.0.2", routes={"/hub": link_page("/away"), "/away": redirect(other.url("/"))}
    )

    _, records = await crawl(tmp_path, [site.url("/hub")], allow_private_networks=True)

    away = next(record for record in records if record.url == site.url("/away"))
    assert (away.status, away.final_url, away.error) == (302, other.url("/"), "out_of_scope")
    assert not other.hits


async def test_a_seed_that_redirects_to_another_host_brings_that_host_into_scope(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    real = await serve_site(2, host="127.0.0.3")
    site = await serve_site(0, host="127.0.0.2", routes={"/start": redirect(real.url("/"))})

    _, records = await crawl(tmp_path, [site.url("/start")], allow_private_networks=True)

    assert {record.url for record in records} == {site.url("/start")} | real.expected_urls()


async def test_a_redirect_to_a_recorded_url_stops_there(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    site = await serve_site(1, routes={"/again": redirect("/p/0")})
    await crawl(tmp_path, [site.url("/p/0")], max_depth=0)

    _, records = await crawl(tmp_path, [site.url("/again")], max_depth=0)

    again = next(record for record in records if record.url == site.url("/again"))
    assert (again.status, again.final_url, again.error, again.redirects) == (
        302,
        site.url("/p/0"),
        None,
        1,
    )
    assert site.hits["/p/0"] == 1


async def test_redirects_to_robots_disallowed_or_non_http_urls_stop(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /secret\n")

    routes = {
        "/robots.txt": robots,
        "/to-secret": redirect("/secret"),
        "/to-ftp": redirect("ftp://files.example/x"),
    }
    site = await serve_site(0, routes=routes)

    _, records = await crawl(tmp_path, [site.url("/to-secret"), site.url("/to-ftp")])

    errors = {record.url.removeprefix(site.origin): record.error for record in records}
    assert errors == {"/to-secret": "robots", "/to-ftp": "invalid_url"}
    assert "/secret" not in site.hits
