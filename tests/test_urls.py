"""Canonicalisation, link resolution and scope: pure functions, no I/O."""

from __future__ import annotations

import pytest
from yarl import URL

from crawler.models import Target
from crawler.urls import ScopePolicy, parse_absolute, registrable_domain, resolve_link


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a#section", "http://example.com/a"),
        ("http://example.com/%7euser", "http://example.com/~user"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/caf\u00e9", "http://example.com/caf%C3%A9"),
        ("http://B\u00fccher.example/", "http://xn--bcher-kva.example/"),
        ("http://user:secret@example.com/", "http://example.com/"),
        ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
        ("http://example.com/a?", "http://example.com/a"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_equivalent_spellings_share_one_canonical_form(spelling: str, canonical: str) -> None:
    target = parse_absolute(spelling)

    assert target is not None
    assert target.url == canonical


@pytest.mark.parametrize(
    "text", ["ftp://example.com/", "/relative", "example.com", "mailto:a@b.c", "http://", ""]
)
def test_non_http_or_relative_urls_are_not_seeds(text: str) -> None:
    assert parse_absolute(text) is None


def test_host_key_keeps_a_non_default_port_and_hostname_drops_it() -> None:
    target = parse_absolute("http://Example.com:8080/")

    assert target is not None
    assert (target.host, target.hostname) == ("example.com:8080", "example.com")


@pytest.mark.parametrize(
    ("href", "resolved"),
    [
        ("../x", "http://example.com/a/x"),
        ("/y?z=1#f", "http://example.com/y?z=1"),
        ("//other.example/p", "http://other.example/p"),
        ("q.html", "http://example.com/a/b/q.html"),
        ("?page=2", "http://example.com/a/b/c.html?page=2"),
        ("  spaced.html\n", "http://example.com/a/b/spaced.html"),
        ("li\nne.html", "http://example.com/a/b/line.html"),
        ("https://EXAMPLE.com:443/", "https://example.com/"),
    ],
)
def test_links_resolve_against_the_page(href: str, resolved: str) -> None:
    target = resolve_link(URL("http://example.com/a/b/c.html"), href)

    assert target is not None
    assert target.url == resolved


@pytest.mark.parametrize(
    "href",
    [
        "#top",
        "",
        "mailto:x@y.z",
        "javascript:void(0)",
        "data:text/html,x",
        "http://[bad",
        "http://example.com:99999/",
        "tel:123",
        "http://[::1]@",
    ],
)
def test_unfollowable_links_resolve_to_none(href: str) -> None:
    assert resolve_link(URL("http://example.com/a"), href) is None


def test_registrable_domain_uses_the_public_suffix_list() -> None:
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("user.github.io") == "user.github.io"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("localhost") == "localhost"


def target(url: str) -> Target:
    parsed = parse_absolute(url)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("scope", "url", "expected"),
    [
        ("host", "http://www.example.co.uk/x", True),
        ("host", "http://shop.example.co.uk/x", False),
        ("domain", "http://shop.example.co.uk/x", True),
        ("domain", "http://other.co.uk/x", False),
        ("any", "http://other.co.uk/x", True),
    ],
)
def test_scope_by_host_domain_or_any(scope: str, url: str, expected: bool) -> None:
    policy = ScopePolicy(scope, ["www.example.co.uk"])  # type: ignore[arg-type]

    assert policy.is_in_scope(target(url)) is expected


def test_deny_wins_over_allow_and_allow_must_match() -> None:
    policy = ScopePolicy("any", [], allow=[r"/docs/"], deny=[r"\.pdf$"])
    docs, pdf, other = (target(f"http://e.com/{p}") for p in ("docs/a", "docs/a.pdf", "b"))

    assert policy.is_in_scope(docs)
    assert not policy.is_in_scope(pdf)
    assert not policy.is_in_scope(other)
