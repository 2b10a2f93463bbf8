"""Link extraction from HTML."""

from __future__ import annotations

from crawler.parse import extract_links


def urls(html: str, page: str = "http://example.com/dir/page.html") -> list[str]:
    return [target.url for target in extract_links(html.encode(), page)]


def test_links_come_from_a_then_area_each_once() -> None:
    html = '<map><area href="/c"></map><a href="b">1</a><a href="b#x">again</a><a>no href</a>'

    assert urls(html) == ["http://example.com/dir/b", "http://example.com/c"]


def test_base_href_changes_what_relative_links_resolve_against() -> None:
    html = (
        '<head><base href="http://cdn.example.com/root/"></head><a href="x">x</a><a href="/y">y</a>'
    )

    assert urls(html) == ["http://cdn.example.com/root/x", "http://cdn.example.com/y"]


def test_a_relative_base_href_resolves_against_the_page() -> None:
    assert urls('<base href="../other/"><a href="x">x</a>') == ["http://example.com/other/x"]


def test_non_http_links_and_fragments_are_dropped() -> None:
    html = '<a href="mailto:a@b.c">m</a><a href="javascript:x()">j</a><a href="#top">t</a>'

    assert urls(html) == []


def test_broken_html_and_invalid_bytes_still_yield_links() -> None:
    body = b'<a href="/ok">\xff\xfe<div><a href=/bare>x</a><a href="http://[::bad">y</a>'

    assert [t.url for t in extract_links(body, "http://example.com/")] == [
        "http://example.com/ok",
        "http://example.com/bare",
    ]
