"""The private-network guard: which addresses are public, and what a crawl may connect to."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from crawler.addresses import is_public_address
from tests.conftest import SiteFactory, link_page
from tests.test_engine import crawl


async def test_links_to_other_private_addresses_are_blocked_by_default(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    inner = await serve_site(2, host="127.0.0.3")
    by_name = await serve_site(2, host="127.0.0.1")
    site = await serve_site(
        0,
        host="127.0.0.2",
        routes={"/hub": link_page(inner.url("/"), f"http://localhost:{by_name.port}/")},
    )

    _, records = await crawl(tmp_path, [site.url("/hub")], scope="any")

    assert {r.url: (r.status, r.error) for r in records} == {
        site.url("/hub"): (200, None),
        inner.url("/"): (None, "blocked_address"),
        f"http://localhost:{by_name.port}/": (None, "blocked_address"),
    }
    assert not inner.hits
    assert inner.robots_hits == 0
    assert not by_name.hits


async def test_allow_private_networks_lifts_the_guard(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    inner = await serve_site(2, host="127.0.0.3")
    site = await serve_site(0, host="127.0.0.2", routes={"/hub": link_page(inner.url("/"))})

    _, records = await crawl(tmp_path, [site.url("/hub")], scope="any", allow_private_networks=True)

    assert {r.error for r in records} == {None}
    assert set(inner.hits) == {"/", "/p/0", "/p/1"}


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
