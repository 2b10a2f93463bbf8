"""URL canonicalisation, link resolution (the WHATWG URL Standard, by ada), crawl scope, and
credentials masked for display; pure functions."""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import final

import ada_url
from publicsuffixlist import PublicSuffixList
from yarl import URL

from crawler.config import Scope
from crawler.models import Target

FOLLOWED_SCHEMES = frozenset({"http", "https"})
# Browsers strip these from both ends of an href and drop them inside it.
_HREF_STRIP = " \t\n\r\f\x00"
_HREF_INNER_WHITESPACE = re.compile(r"[\t\n\r]")


def canonical(href: str) -> Target | None:
    """The crawler's canonical form of a URL as the WHATWG URL Standard serialises it (which
    has lower-case scheme and host, IDNA and IPv4 hosts normalised, no default port, no dot
    segments, percent-encoding as browsers send it): http(s) only, no fragment, no user
    info, no empty `?`. None for other schemes and for hosts with nothing left (`http://./`)."""
    if href.startswith("https://"):
        start = 8
    elif href.startswith("http://"):
        start = 7
    else:
        return None
    url = href.partition("#")[0]
    end = url.find("/", start)  # a special scheme's serialisation always has a path
    authority = url[start:end]
    host = authority
    if "@" in authority:
        host = authority.rpartition("@")[2]
        url = f"{url[:start]}{host}{url[end:]}"
    if host.startswith("["):
        hostname = host[1 : host.index("]")]
    else:
        hostname = host.partition(":")[0].rstrip(".")
    if not hostname:
        return None
    if url.endswith("?") and url.index("?") == len(url) - 1:  # an empty query, not `??`
        url = url[:-1]
    if "%" in url:
        url = _normalise_escapes(url, url.find("/", start))
    return Target(url, host, hostname)


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalise_escapes(url: str, path_start: int) -> str:
    """RFC 3986 normalisation of the path's escapes: unreserved characters decoded (`%7E` is
    `~`), hex digits upper-case; reserved ones (`%3A`, `%2F`) stay escaped, and the query is
    left as it is."""
    path, question_mark, query = url[path_start:].partition("?")

    def normalised(escape: re.Match[str]) -> str:
        char = chr(int(escape[1], 16))
        return char if char in _UNRESERVED else escape[0].upper()

    return f"{url[:path_start]}{_ESCAPE.sub(normalised, path)}{question_mark}{query}"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a canonical URL."""
    return url[: url.index("/", url.index("//") + 2)]


def parse_absolute(text: str) -> Target | None:
    """Canonicalise a user-given absolute http(s) URL (a seed); None if it is not one."""
    try:
        return canonical(ada_url.normalize_url(text.strip(_HREF_STRIP)))
    except ValueError:
        return None


def resolve_link(base: URL | str, href: str, encoding: str | None = None) -> Target | None:
    """Resolve an href found on a page at `base` as browsers do (the WHATWG URL Standard);
    None for non-http(s) or malformed links. `encoding` is the page's, when not UTF-8: a
    query is percent-encoded in it, as browsers do."""
    href = href.strip(_HREF_STRIP)
    if not href or href.startswith("#"):
        return None
    if encoding is not None and not href.isascii():
        href = encode_query(href, encoding)
    try:
        return canonical(ada_url.join_url(str(base), href))
    except ValueError:
        return None


def encode_query(href: str, encoding: str) -> str:
    """`href` with the non-ASCII characters of its query percent-encoded in `encoding` (a
    character it cannot encode as `&#N;`), as a browser does on such a page."""
    before_fragment, hash_mark, fragment = href.partition("#")
    path, question_mark, query = before_fragment.partition("?")
    if not question_mark or query.isascii():
        return href
    encoded = "".join(char if char.isascii() else _encoded(char, encoding) for char in query)
    return f"{path}?{encoded}{hash_mark}{fragment}"


def _encoded(char: str, encoding: str) -> str:
    try:
        return "".join(f"%{byte:02X}" for byte in char.encode(encoding))
    except UnicodeEncodeError:
        return f"%26%23{ord(char)}%3B"  # the URL Standard's `&#N;` for what cannot be encoded


# What a link usually is: only characters the URL Standard leaves as they are, so the
# canonical form can be built by string operations. Anything else goes to ada.
_PATH_CHARS = r"A-Za-z0-9\-._~/"
_QUERY_CHARS = r"A-Za-z0-9\-._~=&"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_SIMPLE_REFERENCE = re.compile(  # not `//host/...`, which is a host, not a path
    rf"(?!//)(?P<path>[{_PATH_CHARS}]*)(?:\?(?P<query>[{_QUERY_CHARS}]*))?(?:#.*)?", re.DOTALL
)
_SIMPLE_ABSOLUTE = re.compile(
    rf"(?P<scheme>https?)://(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[1-9][0-9]{{0,4}}))?"
    rf"(?P<path>/[{_PATH_CHARS}]*)?(?:\?(?P<query>[{_QUERY_CHARS}]*))?(?:#.*)?",
    re.DOTALL,
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_HOST_DECISIONS_KEPT = 10_000
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MAX_PORT = 65535


@final
class LinkResolver:
    """Resolves the hrefs found on one page to canonical targets, as `resolve_link` does.

    Plain hrefs (the vast majority) are resolved with string operations; the rest go to ada.
    The test suite checks that both ways agree.
    """

    def __init__(self, base: URL | str, encoding: str | None = None) -> None:
        """`base`: what the page's links resolve against; `encoding`: the page's, if not
        UTF-8 (see `resolve_link`)."""
        self._base = str(base)
        self._encoding = encoding
        simple = _SIMPLE_ABSOLUTE.fullmatch(self._base)
        target = _absolute(simple) if simple is not None else parse_absolute(self._base)
        if target is None:
            raise ValueError(f"not an http(s) URL: {base}")
        self._site = (target.host, target.hostname)
        self._origin = origin_of(target.url)
        self._origin_slash = self._origin + "/"
        self._base_path = target.url[len(self._origin) :].partition("?")[0]
        self._base_dir = self._base_path[: self._base_path.rfind("/") + 1]

    def resolve(self, href: str) -> Target | None:
        simple = _SIMPLE_REFERENCE.fullmatch(href)
        if simple is None:
            return self._resolve_other(href)
        path, query = simple.group("path", "query")
        if not path:
            if not href or href[0] == "#":
                return None
            path = self._base_path
        elif path[0] != "/":
            path = self._base_dir + path if path[0] != "." else self._up_from_base(path)
        return self._on_origin(path, query)

    def _up_from_base(self, path: str) -> str:
        """A relative path that starts with a dot, joined to the base's directory: its leading
        `../` and `./` taken off the directory here, as most such links need nothing more."""
        directory = self._base_dir
        while True:
            if path.startswith("../"):
                directory = directory[: directory.rfind("/", 0, -1) + 1] or "/"
                path = path[3:]
            elif path.startswith("./"):
                path = path[2:]
            else:
                return directory + path

    def _on_origin(self, path: str, query: str | None) -> Target:
        """The target at `path` (absolute, plain characters) and `query` on the base's origin."""
        if "/." in path:
            path = remove_dot_segments(path)
        url = f"{self._origin}{path}?{query}" if query else self._origin + path
        return _new_target(Target, (url, *self._site))

    def _resolve_other(self, href: str) -> Target | None:
        """`resolve` for what is not a plain relative reference: padded with whitespace, an
        absolute URL (on the base's origin, or plain, or anything else: ada)."""
        stripped = href.strip(_HREF_STRIP)
        if stripped != href:
            return self.resolve(stripped) if stripped else None
        if href.startswith(self._origin_slash):  # the commonest absolute link: the site's own
            simple = _SIMPLE_REFERENCE.fullmatch(href, len(self._origin))
            if simple is not None:
                return self._on_origin(*simple.group("path", "query"))
        if href.startswith("http"):
            absolute = _SIMPLE_ABSOLUTE.fullmatch(href)
            if absolute is not None:
                return _absolute(absolute)
        return resolve_link(self._base, href, self._encoding)


_new_target = tuple.__new__  # Target's own __new__ is a Python function: twice the cost


def _absolute(match: re.Match[str]) -> Target | None:
    scheme, hostname, port = match["scheme"], match["host"].lower(), match["port"]
    if hostname[hostname.rfind(".") + 1].isdigit() and not _is_dotted_quad(hostname):
        return parse_absolute(match.string)  # another IPv4 form (`0x7f.1`), or no host: ada
    if port is not None and int(port) > _MAX_PORT:
        return None
    host = hostname if port is None or port == _DEFAULT_PORTS[scheme] else f"{hostname}:{port}"
    path = match["path"] or "/"
    if "/." in path:
        path = remove_dot_segments(path)
    query = match["query"]
    url = f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"
    return Target(url, host, hostname)


@lru_cache(maxsize=1024)
def _is_dotted_quad(hostname: str) -> bool:
    """Whether a host is an IPv4 address as the URL Standard writes it (`127.0.0.1`)."""
    return _DOTTED_QUAD.fullmatch(hostname) is not None


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: `/a/./b/../c` is `/a/c`."""
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    return "/" + "/".join(kept)


@dataclass(frozen=True, slots=True)
class TrapLimits:
    """Bounds that keep calendar pages, session ids and `../a/a/a` loops from growing forever."""

    max_url_length: int
    max_path_depth: int
    max_segment_repeats: int
    max_queries_per_path: int = 500  # counted by a QueryCounter, not by trap_reason


@final
class QueryCounter:
    """Counts the distinct queries followed per path (scheme, host and path): what bounds a
    query-space trap, one path whose query counts up forever (`/cal?month=N` linking to N+1).
    The URLs given must be new to the crawl; the paths of the last PATHS_KEPT are counted."""

    PATHS_KEPT = 100_000

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._counts: OrderedDict[str, int] = OrderedDict()  # see SeenCache: cheap to evict

    def admits(self, url: str) -> bool:
        """Whether a new URL may be followed: no query, or its path's limit not reached."""
        path, question_mark, _ = url.partition("?")
        if not question_mark:
            return True
        counts = self._counts
        count = counts.get(path, 0)
        if count >= self._limit:
            return False
        if not count and len(counts) >= self.PATHS_KEPT:
            counts.popitem(last=False)
        counts[path] = count + 1
        return True


def trap_reason(url: str, limits: TrapLimits) -> str | None:
    """Which limit a canonical URL breaks (the name counted in stats), or None."""
    if len(url) > limits.max_url_length:
        return "url_too_long"
    path = url.split("/", 3)[3].partition("?")[0]
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) > limits.max_path_depth:
        return "path_too_deep"
    has_repeats = len(segments) > limits.max_segment_repeats and len(set(segments)) < len(segments)
    if has_repeats and max(map(segments.count, segments)) > limits.max_segment_repeats:
        return "repeated_segment"
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
        self._domains: frozenset[str] | None = None  # read from the Public Suffix List when needed
        self._allow = [re.compile(pattern) for pattern in allow]
        self._host_decisions: dict[str, bool] = {}
        self._deny = [re.compile(pattern) for pattern in deny]

    def admit_host(self, hostname: str) -> None:
        """Take one more host (and, for domain scope, its domain) into the scope."""
        self._hostnames = self._hostnames | {hostname}
        self._domains = None
        self._host_decisions.pop(hostname, None)

    def is_in_scope(self, target: Target) -> bool:
        host_decision = self._host_decisions.get(target.hostname)
        if host_decision is None:
            host_decision = self._is_host_in_scope(target.hostname)
            if len(self._host_decisions) >= _HOST_DECISIONS_KEPT:
                self._host_decisions.clear()
            self._host_decisions[target.hostname] = host_decision
        if not host_decision:
            return False
        if any(pattern.search(target.url) for pattern in self._deny):
            return False
        return not self._allow or any(pattern.search(target.url) for pattern in self._allow)

    def _is_host_in_scope(self, hostname: str) -> bool:
        if self._scope == "any":
            return True
        if self._scope == "host":
            return hostname in self._hostnames
        if self._domains is None:  # loading the list takes 30 ms: not for a crawl by host
            self._domains = frozenset(registrable_domain(name) for name in self._hostnames)
        return registrable_domain(hostname) in self._domains


def mask_credentials(url: str) -> str:
    """The URL with any password replaced by `***` (`user:password@`, or a `password=` query
    parameter as database URLs may have), for logs, stats and error messages."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return scheme + separator + _QUERY_PASSWORD.sub(r"\1***", rest)


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
