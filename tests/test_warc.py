"""The WARC export of a real crawl, read back record by record with warcio and checked with
`warcio check`."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from pathlib import Path

from aiohttp import web
from warcio.archiveiterator import ArchiveIterator  # type: ignore[import-untyped]
from warcio.recordloader import ArcWarcRecord  # type: ignore[import-untyped]

from tests.conftest import Handler, SiteFactory, link_page, run_cli

PAGE = b"<html><body>the same words</body></html>"
PICTURE = bytes(range(256)) * 4
ZIPPED = b"<html>" + b"squeezed " * 200 + b"</html>"


def answer(body: bytes, content_type: str = "text/html", status: int = 200) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, status=status)

    return handler


async def zipped(_: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(ZIPPED),
        content_type="text/html",
        headers={"Content-Encoding": "gzip"},
    )


async def cookies(_: web.Request) -> web.Response:
    response = web.Response(body=PAGE + b"<!-- 2 -->", content_type="text/html")
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    response.headers["X-Custom"] = "kept"
    return response


async def moved(_: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/target")


ROUTES: dict[str, Handler] = {
    "/start": link_page("/a", "/b", "/gz", "/cookies", "/missing", "/moved", "/image.png"),
    "/a": answer(PAGE),
    "/b": answer(PAGE),  # the same payload: a revisit
    "/gz": zipped,
    "/cookies": cookies,
    "/missing": answer(b"<p>not here</p>", status=404),
    "/moved": moved,
    "/target": answer(b"<p>moved here</p>"),
    "/image.png": answer(PICTURE, "image/png"),
}


def names_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def read_warc(path: Path) -> list[ArcWarcRecord]:
    """Every record with its payload read (the iterator reuses its stream)."""
    records = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            record.payload = record.content_stream().read()
            records.append(record)
    return records


async def test_a_crawl_exports_as_warc_that_warcio_reads_back_and_checks(
    serve_site: SiteFactory, tmp_path: Path
) -> None:
    site = await serve_site(0, routes=ROUTES)
    (tmp_path / "seeds.txt").write_text(site.url("/start") + "\n")
    crawl = await run_cli("seeds.txt", "--store-bodies", "all", "--no-progress", cwd=tmp_path)
    assert crawl.returncode == 0, crawl.stderr
    export = await run_cli(
        "export", "storage/crawl.db", "--format", "warc", "--output", "crawl.warc.gz", cwd=tmp_path
    )
    assert export.returncode == 0, export.stderr

    warc = tmp_path / "crawl.warc.gz"
    records = read_warc(warc)
    info, rest = records[0], records[1:]
    assert (info.rec_type, info.rec_headers.protocol) == ("warcinfo", "WARC/1.1")
    assert b"software: crawler/" in info.payload
    by_uri = {
        r.rec_headers.get_header("WARC-Target-URI"): r
        for r in rest
        if r.rec_type in ("response", "revisit")
    }
    paths = {"/start", "/a", "/b", "/gz", "/cookies", "/missing", "/target", "/image.png"}
    assert set(by_uri) == {site.url(path) for path in paths}
    assert [r.rec_type for r in by_uri.values()].count("revisit") == 1

    a, b = by_uri[site.url("/a")], by_uri[site.url("/b")]
    assert (a.rec_type, a.payload) == ("response", PAGE)
    assert b.rec_type == "revisit"
    assert b.rec_headers.get_header("WARC-Refers-To-Target-URI") == site.url("/a")
    assert b.rec_headers.get_header("WARC-Payload-Digest") == a.rec_headers.get_header(
        "WARC-Payload-Digest"
    )
    assert b.rec_headers.get_header("WARC-Profile").endswith("identical-payload-digest")

    gz = by_uri[site.url("/gz")]
    assert gz.payload == ZIPPED
    assert gz.http_headers.get_header("Content-Encoding") is None
    assert gz.http_headers.get_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert gz.http_headers.get_header("Content-Length") == str(len(ZIPPED))

    jar = by_uri[site.url("/cookies")].http_headers
    assert jar.statusline == "200 OK"
    assert [v for k, v in jar.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert jar.get_header("X-Custom") == "kept"
    assert by_uri[site.url("/missing")].http_headers.statusline == "404 Not Found"
    assert by_uri[site.url("/image.png")].payload == PICTURE
    assert by_uri[site.url("/target")].payload == b"<p>moved here</p>"

    # One request per response or revisit, tied to it, with what was really sent.
    ids = {r.rec_headers.get_header("WARC-Record-ID"): r for r in by_uri.values()}
    requests = [r for r in rest if r.rec_type == "request"]
    assert len(requests) == len(by_uri)
    for request in requests:
        answered = ids[request.rec_headers.get_header("WARC-Concurrent-To")]
        uri = request.rec_headers.get_header("WARC-Target-URI")
        assert uri == answered.rec_headers.get_header("WARC-Target-URI")
        assert request.http_headers.protocol == "GET"
        assert request.http_headers.get_header("User-Agent").startswith("crawler/")
        assert request.http_headers.get_header("Host") == f"{site.host}:{site.port}"

    # Every response's date is its record's fetch time.
    exported = await run_cli("export", "storage/crawl.db", cwd=tmp_path)
    fetched = {
        r["final_url"]: r["fetched_at"]
        for r in map(json.loads, exported.stdout.splitlines())
        if r["final_url"] in by_uri
    }
    dates = {uri: r.rec_headers.get_header("WARC-Date") for uri, r in by_uri.items()}
    assert dates == fetched

    check = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "warcio"), "check", "-v", str(warc),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    checked = (await asyncio.wait_for(check.communicate(), 60))[0].decode()
    assert check.returncode == 0, checked
    # Every digest checked and right: warcinfo, requests, responses (not the one revisit).
    assert checked.count("digest pass") == 1 + len(requests) + len(by_uri) - 1


async def test_a_warc_of_a_crawl_without_bodies_is_refused_and_leaves_no_file(
    serve_site: SiteFactory, tmp_path: Path
) -> None:
    site = await serve_site(2)
    (tmp_path / "seeds.txt").write_text(site.url("/") + "\n")
    assert (await run_cli("seeds.txt", "--no-progress", cwd=tmp_path)).returncode == 0

    export = await run_cli(
        "export", "storage/crawl.db", "--format", "warc", "--output", "x.warc.gz", cwd=tmp_path
    )
    items = await run_cli("export", "storage/crawl.db", "--items", "--format", "warc", cwd=tmp_path)

    assert export.returncode == items.returncode == 2
    assert export.stderr.strip().splitlines()[-1] == (
        "crawler: error: storage/crawl.db kept no pages to write as WARC:"
        " crawl with --store-bodies html or all"
    )
    assert items.stderr.strip().splitlines()[-1].endswith("--items cannot be written as WARC")
    assert names_in(tmp_path) == ["seeds.txt", "storage"]
