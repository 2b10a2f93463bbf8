"""The exception tree and `ErrorKind`, the stable values of an export record's `error` field.

CrawlerError
├── UsageError                 exit 2, one line on stderr
│   ├── ConfigError            a bad setting, named with its source
│   ├── SeedError              no usable seed, unreadable seeds file
│   └── StorageError           a database that cannot be opened or used
└── FetchError                 one request failed; `kind` goes into the record
    ├── FetchTimeout           timeout
    ├── ConnectFailed          connection
    ├── BlockedAddress         blocked_address (a non-public address: see allow_private_networks)
    ├── ProxyFailed            proxy      (the proxy refused, failed or could not be reached)
    ├── DNSFailed              dns
    ├── TLSFailed              tls
    ├── TooLarge               too_large
    ├── TooManyRedirects       too_many_redirects
    ├── RedirectLoop           redirect_loop (a redirect back to a URL of the same chain)
    ├── OutOfScope             out_of_scope  (a redirect leaving the crawl's scope)
    ├── ProtocolFailed         protocol   (malformed response)
    ├── InvalidURL             invalid_url
    ├── HTTPStatusError        http       (status >= 400)
    ├── RobotsDisallowed       robots     (robots.txt forbids it; never requested)
    ├── HostFailed             host_failed (its host failed too often; never requested)
    ├── HandlerFailed          handler    (processing the page raised)
    ├── Stalled                stalled    (busy longer than stall_timeout: given up)
    └── UnexpectedFailure      internal   (fetching raised an unmapped error: a bug)
"""

from __future__ import annotations

from enum import StrEnum, unique
from typing import ClassVar


@unique
class ErrorKind(StrEnum):
    """The values of a record's `error` field: a public contract (see the README).

    A `StrEnum`, so each kind is also its plain string in exports, logs and the database.
    """

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BLOCKED_ADDRESS = "blocked_address"
    PROXY = "proxy"
    DNS = "dns"
    TLS = "tls"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_LOOP = "redirect_loop"
    OUT_OF_SCOPE = "out_of_scope"
    PROTOCOL = "protocol"
    INVALID_URL = "invalid_url"
    HTTP = "http"
    ROBOTS = "robots"
    HOST_FAILED = "host_failed"
    HANDLER = "handler"
    STALLED = "stalled"
    INTERNAL = "internal"


BROKEN_LINK_KINDS = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.DNS,
        ErrorKind.TLS,
        ErrorKind.PROTOCOL,
        ErrorKind.TOO_MANY_REDIRECTS,
        ErrorKind.REDIRECT_LOOP,
        ErrorKind.INVALID_URL,
    }
)
"""The kinds that make a link broken, beside any status of 400 or more: following the link
gets no page. Not broken: what the crawl chose not to fetch (robots, out_of_scope,
blocked_address, host_failed), what went wrong on its own side (proxy, handler, stalled,
internal), and a page that came but was too large."""


TRANSIENT_KINDS = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.DNS,
        ErrorKind.PROXY,
        ErrorKind.TLS,
        ErrorKind.PROTOCOL,
        ErrorKind.HOST_FAILED,
        ErrorKind.STALLED,
    }
)
"""The kinds where no answer came, for now: a refetch that ends so keeps the page's last
record (a recrawl must not trade a page for a timeout), and the next recrawl tries again."""


class CrawlerError(Exception):
    """Root of every error this package raises on purpose."""


class UsageError(CrawlerError):
    """The user's input (arguments, config, seeds, database path) cannot be used."""


class ConfigError(UsageError):
    """A setting is unknown or has a bad value."""


class SeedError(UsageError):
    """The seeds cannot be read or none is usable."""


class StorageError(UsageError):
    """The database cannot be opened, created or written."""


class FetchError(CrawlerError):
    """One request failed; `kind` is the value of the record's `error` field."""

    kind: ClassVar[ErrorKind]


class FetchTimeout(FetchError):
    kind = ErrorKind.TIMEOUT


class ConnectFailed(FetchError):
    kind = ErrorKind.CONNECTION


class BlockedAddress(FetchError):
    kind = ErrorKind.BLOCKED_ADDRESS


class ProxyFailed(FetchError):
    kind = ErrorKind.PROXY


class DNSFailed(FetchError):
    kind = ErrorKind.DNS


class TLSFailed(FetchError):
    kind = ErrorKind.TLS


class TooLarge(FetchError):
    kind = ErrorKind.TOO_LARGE


class TooManyRedirects(FetchError):
    kind = ErrorKind.TOO_MANY_REDIRECTS


class RedirectLoop(FetchError):
    kind = ErrorKind.REDIRECT_LOOP


class OutOfScope(FetchError):
    kind = ErrorKind.OUT_OF_SCOPE


class ProtocolFailed(FetchError):
    kind = ErrorKind.PROTOCOL


class InvalidURL(FetchError):
    kind = ErrorKind.INVALID_URL


class HTTPStatusError(FetchError):
    kind = ErrorKind.HTTP


class RobotsDisallowed(FetchError):
    kind = ErrorKind.ROBOTS


class HostFailed(FetchError):
    kind = ErrorKind.HOST_FAILED


class HandlerFailed(FetchError):
    """The page was fetched but the step that processes it raised."""

    kind = ErrorKind.HANDLER


class Stalled(FetchError):
    """The request (fetch and parsing) was busy longer than `stall_timeout`; it was given up."""

    kind = ErrorKind.STALLED


class UnexpectedFailure(FetchError):
    """Fetching raised something no rule maps (a bug); logged with its traceback."""

    kind = ErrorKind.INTERNAL


FETCH_ERRORS: tuple[type[FetchError], ...] = tuple(FetchError.__subclasses__())
"""Every leaf of the tree, one for each `ErrorKind` (a test holds them to that)."""
