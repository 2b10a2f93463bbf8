"""URL canonicalisation, link resolution and crawl scope; pure functions over yarl URLs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple, final

from publicsuffixlist import PublicSuffixList
from yarl import URL

from crawler.config import Scope

FOLLOWED_SCHEMES = frozenset({"http", "https"})
# Browsers strip these from both ends of an href and drop them inside it.
_HREF_STRIP = " \t\n\r\f\x00"
_HREF_INNER_WHITESPACE = re.compile(r"[\t\n\r]")


class Target(NamedTuple):
    """A canonical URL with the two host forms the crawler needs."""

    url: str
    host: str  # politeness key: host, plus the port when it is not the scheme's default
    hostname: str  # scope key: the host alone, lower-case, IDNA-encoded


def canonicalize(url: URL) -> Target | None:
    """The canonical form of an absolute URL, or None if it is not a followable http(s) URL.

    Lower-case scheme and host, IDNA host, no default port, no dot segments, no fragment,
    no user info, normalised percent-encoding, `/` for an empty path; the query is kept as is.
    """
    scheme = url.scheme
    hostname = url.raw_host
    if scheme not in FOLLOWED_SCHEMES or not hostname:
        return None
    try:
        host = url.host_port_subcomponent
    except ValueError:
        return None
    if host is None:
        return None
    path = url.raw_path or "/"
    query = url.raw_query_string
    text = f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"
    return Target(text, host, hostname.rstrip("."))


def parse_absolute(text: str) -> Target | None:
    """Canonicalise a user-given absolute http(s) URL (a seed); None if it is not one."""
    try:
        url = URL(text.strip())
    except (ValueError, TypeError):
        return None
    if not url.is_absolute():
        return None
    return canonicalize(url)


def resolve_link(base: URL, href: str) -> Target | None:
    """Resolve an href found on a page at `base`; None for non-http(s) or malformed links."""
    href = href.strip(_HREF_STRIP)
    if not href or href.startswith("#"):
        return None
    if "\t" in href or "\n" in href or "\r" in href:
        href = _HREF_INNER_WHITESPACE.sub("", href)
    try:
        return canonicalize(base.join(URL(href)))
    except (ValueError, TypeError, UnicodeError):
        return None


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def registrable_domain(hostname: str) -> str:
    """The registrable domain (eTLD+1) of a host; an IP address or bare suffix is itself."""
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        pass
    else:
        return hostname
    return _public_suffixes().privatesuffix(hostname) or hostname


@final
class ScopePolicy:
    """Decides whether a discovered URL may be followed: scope, then deny, then allow."""

    def __init__(
        self,
        scope: Scope,
        seed_hostnames: Iterable[str],
        *,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
    ) -> None:
        self._scope = scope
        self._hostnames = frozenset(seed_hostnames)
        self._domains = frozenset(registrable_domain(name) for name in self._hostnames)
        self._allow = [re.compile(pattern) for pattern in allow]
        self._deny = [re.compile(pattern) for pattern in deny]

    def is_in_scope(self, target: Target) -> bool:
        if not self._is_host_in_scope(target.hostname):
            return False
        if any(pattern.search(target.url) for pattern in self._deny):
            return False
        return not self._allow or any(pattern.search(target.url) for pattern in self._allow)

    def _is_host_in_scope(self, hostname: str) -> bool:
        if self._scope == "any":
            return True
        if self._scope == "host":
            return hostname in self._hostnames
        return registrable_domain(hostname) in self._domains
