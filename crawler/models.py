"""Shared frozen records passed between the frontier, the fetcher, the engine and the store.

Records only: no I/O and no decisions.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Literal, NamedTuple

from crawler.errors import ErrorKind

RECORD_FIELDS: tuple[str, ...] = (
    "url",
    "final_url",
    "status",
    "depth",
    "parent",
    "content_type",
    "size",
    "sha256",
    "error",
    "retries",
    "fetched_at",
    "elapsed_ms",
    "redirects",
)
"""The export record's fields, in export order (a public contract: see the README)."""

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})  # the types parsed for links


class Target(NamedTuple):
    """A canonical URL with the two host forms the crawler needs."""

    url: str
    host: str  # politeness key: host, plus the port when it is not the scheme's default
    hostname: str  # scope key: the host alone, lower-case, IDNA-encoded


def utc_timestamp(at: float | None = None) -> str:
    """Now (or `at`, epoch seconds) as ISO-8601 UTC with milliseconds: `2026-11-25T14:59:43.004Z`,
    the form of a record's `fetched_at` (these strings sort as the times do)."""
    moment = time.time() if at is None else at
    second = math.floor(moment)
    microseconds = round((moment - second) * 1_000_000)  # as datetime rounds, then cuts
    if microseconds == 1_000_000:
        second, microseconds = second + 1, 0
    if second != _second_shown[0]:  # formatted once a second, not once a page
        _second_shown[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second_shown[1]}.{microseconds // 1000:03d}Z"


_second_shown: list[Any] = [None, ""]  # the last whole second formatted, and its text


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """What a request from a parser adds to a plain GET of its URL; stored with it."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    meta: str | None = None  # JSON text, handed to the page as `page.meta`
    priority: int = 0  # higher first, among the queued requests of the same host
    handler: str | None = None  # the route to parse the page with, by name
    variant: str = ""
    """Tells apart requests for the same URL: empty for a plain GET, a digest of method and
    body for others, a unique value to bypass deduplication."""


@dataclass(frozen=True, slots=True)
class Validators:
    """What a response said to recognise it by later (`ETag`, `Last-Modified`)."""

    etag: str | None = None
    last_modified: str | None = None

    def conditional_headers(self) -> dict[str, str]:
        """The headers that ask for the page only if it changed since."""
        headers = {}
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        if self.last_modified is not None:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class Kept(Enum):
    """Why a refetch leaves the page's record as it was."""

    UNCHANGED = "unchanged"
    """304 Not Modified: the record stands, fetched again now."""
    TRANSIENT = "transient"
    """No answer, or a 429 or 5xx, this time: the record stands as last fetched, and the next
    recrawl tries again."""


@dataclass(frozen=True, slots=True)
class CrawlRequest:
    """A canonical URL to fetch; `id` is its row in the store once it has one."""

    url: str
    host: str
    depth: int
    parent: str | None = None
    retries: int = 0
    id: int | None = None
    options: RequestOptions | None = None
    last: Validators | None = None
    """Set when the URL has a record already (a recrawl): the validators of its last answer
    (both None when it gave none)."""

    @property
    def dedup_key(self) -> str:
        """The URL, plus the variant when there is one: equal keys are the same request."""
        options = self.options
        return (
            self.url if options is None or not options.variant else f"{self.url} {options.variant}"
        )


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced: a response (body may be empty) or an error kind."""

    request: CrawlRequest
    final_url: str
    status: int | None
    content_type: str | None
    body: bytes
    error: ErrorKind | str | None
    """Why it failed: an `ErrorKind`, or a kind of its own that a user's middleware gave."""
    fetched_at: str
    elapsed_ms: int
    charset: str | None = None
    robots_tag: str | None = None  # the X-Robots-Tag header
    hops: tuple[Target, ...] = ()
    """The URLs the request was redirected through and fetched, in order, after `request.url`."""
    redirects: int = 0
    """Redirect responses received (a chain may stop at one: out of scope, already recorded)."""
    retry_after: str | None = None  # the Retry-After header of the final response
    retry_in: float | None = None
    """Set by the Retry middleware: try again after this many seconds instead of recording."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The final response's headers (case-insensitive when they come from a response)."""
    exchange: Exchange | None = None
    """The final request as sent and its answer's status line, when an answer came."""

    @classmethod
    def failed(cls, request: CrawlRequest, kind: ErrorKind | str) -> FetchResult:
        """A result for a request that got no response at all; `kind` is recorded as its `error`
        (an `ErrorKind`, or a middleware's own kind such as "skipped_admin")."""
        return cls(request, request.url, None, None, b"", kind, utc_timestamp(), 0)

    @property
    def is_html(self) -> bool:
        return self.error is None and self.content_type in HTML_TYPES


@dataclass(frozen=True, slots=True)
class DocumentResponse:
    """A robots.txt or sitemap fetch: status and body, or the error kind when no answer came."""

    status: int | None
    body: bytes = b""
    error: ErrorKind | None = None


@dataclass(frozen=True, slots=True)
class PageRecord:
    """One export record: what the crawler decided about one URL."""

    url: str
    final_url: str | None
    status: int | None
    depth: int
    parent: str | None
    content_type: str | None
    size: int
    sha256: str | None
    error: str | None  # an ErrorKind value, or a middleware's own kind
    retries: int
    fetched_at: str | None
    elapsed_ms: int | None
    redirects: int = 0

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in RECORD_FIELDS}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished request: its record and the new requests it discovered, saved together."""

    request: CrawlRequest
    record: PageRecord
    discovered: tuple[CrawlRequest, ...] = ()
    limits_hit: Mapping[str, int] = field(default_factory=dict)
    """Links of the page dropped by each crawl-trap limit, by limit name."""
    redirected: tuple[tuple[CrawlRequest, PageRecord], ...] = ()
    """Records for the URLs a redirect chain passed through, stored unless already decided."""
    capture: HttpCapture | None = None
    """The exchange as sent and received, when the crawl keeps bodies."""
    items: tuple[ItemRecord, ...] = ()
    """Items the page's parser produced, stored with the record."""
    linked: tuple[str, ...] = ()
    """Canonical URLs the page links to, each once, that were not known to be fine when it was
    decided: the store keeps these links, so a broken link can name the pages that refer to it."""
    validators: Validators | None = None
    """Those of a page answered without a redirect, kept for its next fetch."""
    kept: Kept | None = None
    """Set when a refetch leaves the record as it was: only its history and state change."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """The final request of a fetch as it was sent, and its answer's HTTP version and reason."""

    method: str
    request_headers: Mapping[str, str]
    request_body: bytes | None
    http_version: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class HttpCapture:
    """One kept exchange, as the WARC export writes it: the request as sent (head and body)
    and the response's head as received (status line and headers, HTTP/1.1 wire form), then
    its body decompressed."""

    request: bytes
    response_head: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One item a parser produced: the page's URL, the route that made it, the item as JSON."""

    url: str
    handler: str
    data: str


@dataclass(frozen=True, slots=True)
class FollowRequest:
    """A link a parser asked to follow, with what it adds to a plain GET."""

    target: Target
    options: RequestOptions


@dataclass(frozen=True, slots=True)
class PageOutput:
    """What processing one fetched page produced."""

    links: Sequence[Target] = ()
    follows: Sequence[FollowRequest] = ()
    items: tuple[ItemRecord, ...] = ()
    error: ErrorKind | None = None  # replaces the fetch's (a parser failed)
    dropped_links: int = 0  # links past max_links_per_page, left out before they were resolved


@dataclass(frozen=True, slots=True)
class Claim:
    """Requests taken from the queue. A claim that came back short of what was asked also says
    when more may become claimable (epoch seconds), if anything may: a request waiting for a
    retry coming due, or (shared crawls) another process's lease on a host running out."""

    requests: tuple[CrawlRequest, ...] = ()
    next_due: float | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """How far a crawl is: requests done and queued (or claimed) in this round of it, the
    done ones by host, and the records held."""

    done: int
    queued: int
    done_by_host: Mapping[str, int] = field(default_factory=dict)
    """Filled only when asked for: it counts the whole store."""
    recorded: int = 0
    """Rows with a record: `done`, and with a recrawl also the records queued again."""


@dataclass(frozen=True, slots=True)
class ProxyFigures:
    """How one proxy did over a run."""

    requests: int = 0
    failures: int = 0
    bans: int = 0
    evicted: bool = False
    avg_latency_ms: int = 0

    def as_dict(self) -> dict[str, int]:
        """The figures as `stats --json` and the logs show them (`evicted` as 0 or 1)."""
        return {figure.name: int(getattr(self, figure.name)) for figure in fields(self)}


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What a run leaves for `stats` beside its records."""

    proxies: Mapping[str, ProxyFigures] = field(default_factory=dict)
    """By proxy URL, credentials masked; they replace the figures of earlier runs."""
    host_budget: int | None = None
    """The run's `max_pages_per_host`: the store counts the queued requests it left behind."""


@dataclass(frozen=True, slots=True)
class CrawlStats:
    """Totals of a crawl database, for `crawler stats`."""

    done: int
    queued: int
    by_status: dict[str, int]
    by_error: dict[str, int]
    by_host: dict[str, int]
    first_fetched_at: str | None
    last_fetched_at: str | None
    limits_hit: dict[str, int] = field(default_factory=dict)
    items: int = 0
    proxies: dict[str, ProxyFigures] = field(default_factory=dict)
    """By proxy URL, credentials masked."""


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """A recorded URL that fails (see `BROKEN_LINK_KINDS`), and the pages that link to it."""

    url: str
    status: int | None
    error: str | None
    referrers: tuple[str, ...]
    """In alphabetical order, at most as many as were asked for."""
    referrer_count: int
    """All the referring pages the crawl knows of, shown or not."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """One row of a URL's history: a fetch that was recorded, or that left the record as it was
    (`kept`: a 304, or a transient failure of a refetch)."""

    url: str
    fetched_at: str
    status: int | None
    sha256: str | None
    error: str | None
    kept: bool


ChangeKind = Literal["appeared", "changed", "disappeared"]
CHANGE_FIELDS = ("url", "change", "at", "status")
"""The fields of `export --changes-since`, in order (a public contract: see the README)."""


@dataclass(frozen=True, slots=True)
class Change:
    """What became of a URL since a given time, and when it was seen (`at`)."""

    url: str
    change: ChangeKind
    at: str
    status: int | None

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in CHANGE_FIELDS}


StopReason = Literal["finished", "stopped", "stalled"]


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    """How a run ended: `signal` is the number of the signal that stopped it, if one did."""

    reason: StopReason
    pages: int
    errors: int
    elapsed_s: float
    signal: int | None = None

    def __str__(self) -> str:
        """`crawl finished: 24 pages (10 errors) in 1.2 s`, and the signal that stopped it."""
        text = f"crawl {self.reason}: {self.pages} pages ({self.errors} errors)"
        text += f" in {self.elapsed_s:.1f} s"
        if self.signal is not None:
            text += f", by {signal.Signals(self.signal).name}"
        return text
