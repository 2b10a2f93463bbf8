"""Every setting, declared once: its default, its help and its check.

The settings come in small frozen parts (`CrawlScope`, `Limits`, `Politeness`, `Timeouts`,
`RetryPolicy`, `Proxies`, `Output`); `Config` is all of them at once, so
`Config(db=..., max_pages=..., concurrency=...)` takes every setting by name, and a component
that needs only its part is typed with that part. CLI flags, `CRAWLER_*` variables, TOML keys,
`config/crawler.toml` and the README's table all come from these declarations
(`python -m crawler.config_docs` rewrites the last two); `crawler.config_sources` reads them
from a TOML file, the environment and the flags.

It knows no component.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from crawler.errors import ConfigError
from crawler.settings import (
    Setting,
    count,
    duration,
    matching,
    one_of,
    optional_path,
    parse_list,
    parse_whole,
    path,
    patterns,
    seconds,
    setting,
    setting_of,
    status_codes,
    switch,
    text,
    urls_with_scheme,
    whole,
)

__version__ = "0.1.0"

DEFAULT_USER_AGENT = f"crawler/{__version__} (async web crawler; aiohttp)"
MIB = 1024 * 1024
PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://", "socks4://")
DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")

Scope = Literal["host", "domain", "any"]
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
StoreBodies = Literal["none", "html", "all"]
ProxyStrategy = Literal["round-robin", "random", "sticky"]


def is_database_url(db: object) -> bool:
    """Whether `db` names a database server (`postgresql://...`) rather than a file."""
    return isinstance(db, str) and db.startswith(DATABASE_URL_SCHEMES)


def _database(value: object) -> Path | str:
    """A file path (SQLite), or a database server's URL kept as it is."""
    return value if is_database_url(value) and isinstance(value, str) else path(value)


def read_proxies_file(file: Path | None) -> list[str]:
    """Proxy URLs from a file, one a line (blank lines and # comments skipped).

    Raises `ConfigError` if the file cannot be read or a line is not a proxy URL.
    """
    try:
        return _proxy_lines(file)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _proxy_lines(file: Path | None) -> list[str]:
    if file is None:
        return []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read proxies file {file}: {exc}") from None
    proxies = []
    for line_number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if not entry.startswith(PROXY_SCHEMES):
            raise ValueError(f"{file}:{line_number}: not an http(s) or socks proxy URL")
        proxies.append(entry)
    return proxies


def _proxies_file(value: object) -> Path | None:
    """A readable file of proxy URLs: it is read here, so a bad one is found at start-up."""
    file = optional_path(value)
    _proxy_lines(file)
    return file


@dataclass(frozen=True, kw_only=True)
class _Part:
    """A group of settings; each value is checked when the object is made."""

    def __post_init__(self) -> None:
        for declared in fields(self):
            value = getattr(self, declared.name)
            checked = setting_of(declared).checked(declared.name, value, f"{type(self).__name__}()")
            if checked is not value:
                object.__setattr__(self, declared.name, checked)


@dataclass(frozen=True, kw_only=True)
class Output(_Part):
    """What is kept, and by what: the database, bodies, your parsers."""

    db: Path | str = setting(
        Path("storage/crawl.db"),
        "the crawl database, the frontier and one record per URL: a file (SQLite), or a"
        " postgresql://user:password@host/name URL (shared by several processes)",
        check=_database,
        metavar="PATH",
    )
    store_bodies: StoreBodies = one_of(
        "none",
        "keep response bodies (and the request and response heads, for the WARC export) in"
        " the database: none, html (HTML pages) or all; pages marked noindex are never kept",
        StoreBodies,
    )
    parser: str | None = setting(
        None,
        "your parsers for a command-line crawl: a Crawler or Router object, as module:object or"
        " path/to/file.py:object",
        check=matching(
            r"[^:\s]+:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*",
            "module:object or path/to/file.py:object",
        ),
        metavar="MODULE:OBJECT",
        example='"mypackage.parsers:crawler"',
    )


@dataclass(frozen=True, kw_only=True)
class Logging(_Part):
    """What is shown while crawling: logs, progress and metrics."""

    log_format: LogFormat = one_of(
        "text", "text, or json: one object per line (ts, level, logger, msg, fields)", LogFormat
    )
    log_level: LogLevel = one_of("info", "debug, info, warning or error", LogLevel)
    progress: bool = switch(True, "the live progress line on a terminal (log lines instead)")
    progress_interval: float = seconds(
        10.0, "seconds between progress log lines when not on a terminal", allow_zero=False
    )
    metrics_port: int | None = count(
        None,
        "serve Prometheus metrics at http://HOST:PORT/metrics (all interfaces) while crawling;"
        " with --processes, process k uses this port + k",
        maximum=65535,
        example="9100",
        unset="off",
    )


@dataclass(frozen=True, kw_only=True)
class CrawlScope(_Part):
    """What the crawl follows beyond its seeds."""

    scope: Scope = one_of(
        "host",
        "host: only the seeds' hosts; domain: their registrable domains (Public Suffix List);"
        " any: everywhere",
        Scope,
    )
    allow: tuple[str, ...] = setting(
        (),
        "only follow URLs matching one of these regexes",
        check=patterns,
        parse=parse_list,
        metavar="REGEX",
        repeatable=True,
    )
    deny: tuple[str, ...] = setting(
        (),
        "never follow URLs matching any of these regexes (deny wins over allow)",
        check=patterns,
        parse=parse_list,
        metavar="REGEX",
        repeatable=True,
    )
    max_depth: int | None = count(
        None,
        "follow links up to this many hops from a seed (seeds are depth 0)",
        minimum=0,
        example="3",
    )
    sitemaps: bool = switch(
        False,
        "also queue the pages the seed sites' sitemaps list (robots.txt Sitemap: lines, else"
        " /sitemap.xml)",
    )
    allow_private_networks: bool = switch(
        False, "also fetch loopback, private and link-local addresses that no seed names"
    )
    recrawl_after: float | None = duration(
        None,
        "fetch again the records older than this (30m, 12h, 7d), each asked for only if it"
        " changed (If-None-Match, If-Modified-Since); off: a rerun fetches only what is new",
        example='"20h"',
    )


@dataclass(frozen=True, kw_only=True)
class Limits(_Part):
    """How much at once and how much in all; the bounds that keep crawler traps small."""

    concurrency: int = count(64, "requests in flight at most (in each process)")
    processes: int = count(
        1, "crawler processes on this machine sharing the crawl (needs a postgresql:// db)"
    )
    per_host: int = count(4, "requests in flight per host (host and port) at most")
    max_pages: int | None = count(
        None, "stop once the database holds this many records", example="1000"
    )
    max_pages_per_host: int | None = count(
        None,
        "record at most this many pages of one host (host and port), across runs",
        example="500",
    )
    max_size: int = setting(
        10 * MIB,
        "largest body kept, in bytes after decompression",
        check=whole(1),
        parse=parse_whole,
        metavar="BYTES",
    )
    max_links_per_page: int = count(1000, "follow at most this many links of one page")
    max_url_length: int = count(
        2048, "skip discovered URLs longer than this (characters)", minimum=16
    )
    max_path_depth: int = count(32, "skip discovered URLs with more path segments than this")
    max_segment_repeats: int = count(
        3, "skip discovered URLs repeating one path segment more often (/a/b/a/b/a/...)"
    )
    max_queries_per_path: int = count(
        500,
        "follow at most this many distinct queries of one path (/cal?month=N, /list?page=N) in"
        " a run; more are skipped",
    )


@dataclass(frozen=True, kw_only=True)
class Politeness(_Part):
    """How the crawl treats the sites it visits."""

    user_agent: str = setting(DEFAULT_USER_AGENT, "User-Agent header", check=text, metavar="TEXT")
    delay: float = seconds(0.0, "minimum seconds between two request starts to one host")
    adaptive_throttle: bool = switch(
        True, "per-host delays that follow latency and back off on 429/5xx/connection errors"
    )
    ignore_robots: bool = switch(False, "neither fetch nor obey robots.txt")
    ignore_robots_meta: bool = switch(
        False,
        "ignore rel=nofollow, <meta name=robots> and X-Robots-Tag (their nofollow and noindex)",
    )


@dataclass(frozen=True, kw_only=True)
class Timeouts(_Part):
    """How long to wait for an answer, for progress, and for a graceful stop."""

    timeout: float = seconds(
        30.0, "seconds for a whole request; connecting gets at most 10 of them", allow_zero=False
    )
    stall_timeout: float = seconds(
        300.0,
        "the watchdog: a request (fetch and parsing) busy this long is given up and recorded"
        " 'stalled'; a crawl that stores nothing this long, with nothing in flight and no delay"
        " pending, stops with exit code 3; 0 turns it off",
    )
    shutdown_grace: float = seconds(
        20.0, "seconds in-flight requests get to finish after SIGTERM/SIGINT"
    )
    lease_timeout: float = seconds(
        15.0,
        "on PostgreSQL: seconds a process keeps a host without renewing its lease; after that"
        " (a process killed or lost) the others take the host and its unfinished URLs over",
        allow_zero=False,
    )


@dataclass(frozen=True, kw_only=True)
class RetryPolicy(_Part):
    """Which failures are tried again, how often, and how long the longest wait is."""

    retries: int = count(
        3,
        "tries after the first, on connection errors, timeouts, DNS failures and retry_statuses",
        minimum=0,
    )
    retry_statuses: tuple[int, ...] = status_codes(
        (408, 429, 500, 502, 503, 504), "HTTP statuses worth another try"
    )
    retry_max_wait: float = seconds(
        60.0,
        "longest wait before a retry, in seconds; a longer Retry-After is not waited for: the"
        " answer is recorded as it is",
    )


@dataclass(frozen=True, kw_only=True)
class Proxies(_Part):
    """The proxies requests go through, and when one is taken out of the rotation."""

    proxy: tuple[str, ...] = setting(
        (),
        "http(s) or socks5/socks4 proxies to send requests through (user:password@ allowed)",
        check=urls_with_scheme(PROXY_SCHEMES, "proxy"),
        parse=parse_list,
        metavar="URL",
        repeatable=True,
    )
    proxies_file: Path | None = setting(
        None,
        "a file of proxy URLs, one a line, added to proxy",
        check=_proxies_file,
        metavar="FILE",
        example='"proxies.txt"',
    )
    proxy_strategy: ProxyStrategy = one_of(
        "round-robin",
        "round-robin, random, or sticky (one proxy per host while it works)",
        ProxyStrategy,
    )
    proxy_ban_statuses: tuple[int, ...] = status_codes(
        (403, 429), "answers that mean a proxy is banned: cool it down, try another"
    )
    proxy_concurrency: int | None = count(
        None, "requests in flight through one proxy at most", example="8"
    )

    def proxy_urls(self) -> tuple[str, ...]:
        """`proxy`, then the URLs of `proxies_file`, read now.

        Raises `ConfigError` if the file cannot be read or a line is not a proxy URL.
        """
        return (*self.proxy, *read_proxies_file(self.proxies_file))


@dataclass(frozen=True, kw_only=True)
class Config(Logging, Output, Timeouts, Proxies, RetryPolicy, Limits, Politeness, CrawlScope):
    """Every setting of a crawl, by the names of the CLI flags (`--max-pages` is `max_pages`).

    Units: `delay`, `timeout`, `shutdown_grace` and `stall_timeout` in seconds, `max_size` in
    bytes; None for `max_pages`/`max_depth` means no limit. Raises `ConfigError` on a bad
    value. Each part (`Limits`, `Timeouts`, ...) is a base class, listed here last part first.
    """


PARTS: tuple[type[_Part], ...] = tuple(reversed(Config.__bases__))
"""The parts of `Config`, in the order its settings are listed."""
SETTINGS: dict[str, Setting] = {declared.name: setting_of(declared) for declared in fields(Config)}
DEFAULTS = Config()
