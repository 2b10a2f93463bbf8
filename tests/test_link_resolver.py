"""The string fast path of LinkResolver agrees with full resolution by ada (the WHATWG URL
Standard), href for href."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from crawler.urls import LinkResolver, remove_dot_segments, resolve_link

BASES = [
    "http://example.com/",
    "http://example.com/a/b/c.html",
    "http://example.com/a/b/",
    "https://example.com:8443/dir/page?x=1",
    "http://127.0.0.1:8080/p/12.html",
]

PIECES = [
    "a",
    "B",
    "0",
    "-",
    ".",
    "..",
    "/",
    "//",
    "?",
    "=",
    "&",
    "#",
    "_",
    "~",
    "%41",
    "%2f",
    " ",
    "\\t",
    ":",
    "@",
    "+",
    "é",
    "http://",
    "https://",
    "HTTP://",
    "http://example.com",  # the bases' own origins: the same-origin fast path
    "https://example.com:8443",
    "http://127.0.0.1:8080",
    "Example.COM",
    "x.org",
    ":80",
    ":443",
    ":8080",
    ":0",
    ":99999",
    ":080",
    "./",
    "../",
    "index.html",
    ";",
    "!",
    "'",
    "*",
    "127.0.0.1",
    "1.2.3",
    "999.1.1.1",
    "xn--bcher-kva",
    "-a",
    "a-",
    "[::1]",
    "\n",
    "?a=1&b",
    "/.",
]


@settings(max_examples=3000, deadline=None)
@given(
    base=st.sampled_from(BASES),
    href=st.lists(st.sampled_from(PIECES), min_size=0, max_size=8).map("".join),
)
def test_fast_resolution_matches_ada(base: str, href: str) -> None:
    href = href.replace("\\\\t", "\\t")
    expected = resolve_link(URL(base), href)

    assert LinkResolver(URL(base)).resolve(href) == expected


@pytest.mark.parametrize(
    ("href", "url"),
    [
        ("/p/1.html", "http://h.test/p/1.html"),
        ("2.html", "http://h.test/p/2.html"),
        ("../q/3.html#frag", "http://h.test/q/3.html"),
        ("./a/../b", "http://h.test/p/b"),
        ("?page=2", "http://h.test/p/1.html?page=2"),
        ("http://OTHER.test:80/x", "http://other.test/x"),
        ("https://h.test:8443", "https://h.test:8443/"),
    ],
)
def test_common_hrefs(href: str, url: str) -> None:
    target = LinkResolver(URL("http://h.test/p/1.html")).resolve(href)

    assert target is not None
    assert target.url == url


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/a/./b/../c", "/a/c"), ("/a/..", "/"), ("/../x", "/x"), ("/a/.", "/a/"), ("/a//b", "/a//b")],
)
def test_remove_dot_segments(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected
