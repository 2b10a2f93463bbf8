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


def test_the_header_charset_decodes_non_ascii_links() -> None:
    body = '<a href="/café">x</a>'.encode("latin-1")

    links = extract_links(body, "http://h.test/", charset="iso-8859-1")

    assert [t.url for t in links] == ["http://h.test/caf%C3%A9"]


def test_a_meta_charset_is_used_when_the_header_has_none() -> None:
    body = '<meta charset="windows-1251"><a href="/привет">x</a>'.encode("cp1251")

    assert [t.url for t in extract_links(body, "http://h.test/")] == [
        "http://h.test/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82"
    ]


def test_http_equiv_content_type_declares_a_charset_too() -> None:
    head = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-15">'
    body = (head + '<a href="/€uro">x</a>').encode("iso-8859-15")

    assert [t.url for t in extract_links(body, "http://h.test/")] == ["http://h.test/%E2%82%ACuro"]


def test_a_byte_order_mark_gives_the_encoding() -> None:
    body = '\ufeff<a href="/naïve">x</a>'.encode("utf-16-le")

    assert [t.url for t in extract_links(body, "http://h.test/")] == ["http://h.test/na%C3%AFve"]


def test_utf8_without_any_declaration_is_read_as_utf8() -> None:
    body = '<a href="/日本">x</a>'.encode()

    assert [t.url for t in extract_links(body, "http://h.test/")] == [
        "http://h.test/%E6%97%A5%E6%9C%AC"
    ]


def test_undeclared_non_utf8_bytes_are_guessed_without_crashing() -> None:
    text = "<p>" + "Ceci est une phrase française, très longue et répétée. " * 20 + "</p>"
    body = (text + '<a href="/ok">x</a><a href="/été">y</a>').encode("latin-1")

    urls = [t.url for t in extract_links(body, "http://h.test/")]

    assert urls[0] == "http://h.test/ok"
    assert len(urls) == 2


def test_an_unknown_declared_charset_is_ignored() -> None:
    body = b'<meta charset="no-such-charset"><a href="/a">x</a>'

    assert [t.url for t in extract_links(body, "http://h.test/", charset="bogus")] == [
        "http://h.test/a"
    ]
