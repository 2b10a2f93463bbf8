"""A kept exchange in HTTP/1.1 wire form (`HttpCapture`), for the WARC export: the request line
and headers as sent, then the status line and headers as received. Built only for the pages
whose body the crawl keeps; pure formatting, no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from yarl import URL

from crawler.models import Exchange, FetchResult, HttpCapture

UNKNOWN = Exchange("GET", {}, None, "1.1", None)
"""For a result a middleware made up: what is known of it is kept all the same."""


def capture_of(result: FetchResult, body: bytes) -> HttpCapture:
    """The final request and response of `result` (which has a status), with `body`."""
    exchange = result.exchange or UNKNOWN
    url = URL(result.final_url, encoded=True)
    version = exchange.http_version
    request = _head(
        f"{exchange.method} {url.raw_path_qs or '/'} HTTP/1.1",  # what aiohttp sends
        exchange.request_headers.items(),  # a multidict yields each value of a repeated header
    )
    status_line = f"HTTP/{version} {result.status}"
    if exchange.reason:
        status_line += f" {exchange.reason}"
    return HttpCapture(
        request=request + (exchange.request_body or b""),
        response_head=_head(status_line, result.headers.items()),
        body=body,
    )


def _head(first_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    text = "\r\n".join([first_line, *(f"{name}: {value}" for name, value in headers), "", ""])
    # Latin-1, as HTTP/1.1 headers are; a server's stray UTF-8 is kept as it came.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
