"""The error tree, the error kinds, and the public names."""

from __future__ import annotations

import crawler
from crawler.errors import FETCH_ERRORS, ErrorKind, FetchError


def test_every_error_kind_has_exactly_one_fetch_error() -> None:
    kinds = [error.kind for error in FETCH_ERRORS]

    assert sorted(kinds) == sorted(ErrorKind)
    assert all(issubclass(error, FetchError) for error in FETCH_ERRORS)


def test_error_kinds_are_the_documented_strings() -> None:
    assert [str(kind) for kind in ErrorKind] == [
        "timeout",
        "connection",
        "blocked_address",
        "proxy",
        "dns",
        "tls",
        "too_large",
        "too_many_redirects",
        "redirect_loop",
        "out_of_scope",
        "protocol",
        "invalid_url",
        "http",
        "robots",
        "host_failed",
        "handler",
        "stalled",
        "internal",
    ]


def test_public_names_are_exactly_these() -> None:
    assert sorted(crawler.__all__) == [
        "CallNext",
        "Config",
        "CrawlSummary",
        "Crawler",
        "CrawlerError",
        "Engine",
        "FetchResult",
        "Middleware",
        "OutgoingRequest",
        "Page",
        "PageError",
        "Request",
        "Router",
        "StoredItem",
        "__version__",
        "load_config",
        "read_items",
    ]
