"""The error tree and the public names."""

from __future__ import annotations

import crawler
from crawler.errors import FETCH_ERRORS, FetchError


def test_error_kinds_are_unique_and_named() -> None:
    kinds = [error.kind for error in FETCH_ERRORS]

    assert len(kinds) == len(set(kinds))
    assert set(kinds) >= {
        "timeout",
        "connection",
        "dns",
        "tls",
        "too_large",
        "too_many_redirects",
        "http",
    }
    assert all(issubclass(error, FetchError) for error in FETCH_ERRORS)


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
