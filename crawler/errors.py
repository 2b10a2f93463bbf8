"""The exception tree and the stable `error` kinds written to export records.

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

from typing import ClassVar


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
    """One request failed; `kind` is the stable value of the record's `error` field."""

    kind: ClassVar[str] = "fetch"


class FetchTimeout(FetchError):
    kind = "timeout"


class ConnectFailed(FetchError):
    kind = "connection"


class BlockedAddress(FetchError):
    kind = "blocked_address"


class ProxyFailed(FetchError):
    kind = "proxy"


class DNSFailed(FetchError):
    kind = "dns"


class TLSFailed(FetchError):
    kind = "tls"


class TooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "too_many_redirects"


class RedirectLoop(FetchError):
    kind = "redirect_loop"


class OutOfScope(FetchError):
    kind = "out_of_scope"


class ProtocolFailed(FetchError):
    kind = "protocol"


class InvalidURL(FetchError):
    kind = "invalid_url"


class HTTPStatusError(FetchError):
    kind = "http"


FETCH_ERRORS: tuple[type[FetchError], ...] = (
    FetchTimeout,
    ConnectFailed,
    BlockedAddress,
    ProxyFailed,
    DNSFailed,
    TLSFailed,
    TooLarge,
    TooManyRedirects,
    RedirectLoop,
    OutOfScope,
    ProtocolFailed,
    InvalidURL,
    HTTPStatusError,
)
"""Every leaf; their kinds are the documented values of the record's `error` field."""


class RobotsDisallowed(FetchError):
    kind = "robots"


class HostFailed(FetchError):
    kind = "host_failed"


class HandlerFailed(FetchError):
    """The page was fetched but the step that processes it raised."""

    kind = "handler"


class Stalled(FetchError):
    """The request (fetch and parsing) was busy longer than `stall_timeout`; it was given up."""

    kind = "stalled"


class UnexpectedFailure(FetchError):
    """Fetching raised something no rule maps (a bug); logged with its traceback."""

    kind = "internal"


FETCH_ERRORS += (RobotsDisallowed, HostFailed, HandlerFailed, Stalled, UnexpectedFailure)
