"""The fetch layer: the private-network guard, on real loopback servers, and its address rules."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import brotli  # type: ignore[import-untyped]  # publishes no type information
import pytest
from aiohttp import web

try:
    from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # Python 3.14+
except ImportError:
    from backports import zstd

from tests.conftest import SiteFactory
from tests.test_engine import crawl


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
async def test_compressed_pages_are_decoded_and_their_links_followed(
    tmp_path: Path, serve_site: SiteFactory, encoding: str
) -> None:
    html = b'<html><body><a href="/p/0">next</a>' + b"<p>padding</p>" * 500 + b"</body></html>"
    seen_accept: list[str] = []

    async def compressed(request: web.Request) -> web.Response:
        seen_accept.append(request.headers.get("Accept-Encoding", ""))
        headers = {"Content-Encoding": encoding, "Content-Type": "text/html"}
        return web.Response(body=compress(html, encoding), headers=headers)

    site = await serve_site(1, routes={"/packed": compressed})

    _, records = await crawl(tmp_path, [site.url("/packed")], max_depth=1)

    packed = next(r for r in records if r.url == site.url("/packed"))
    assert (packed.status, packed.error, packed.size) == (200, None, len(html))
    assert site.url("/p/0") in {r.url for r in records}
    assert encoding in seen_accept[0]


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return bytes(brotli.compress(data))
    return bytes(zstd.compress(data))
