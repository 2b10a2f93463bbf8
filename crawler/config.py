"""The one typed `Config`, every default, and `load_config()` (defaults < TOML < env < CLI)."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, cast

from crawler.errors import ConfigError

__version__ = "0.1.0"

DEFAULT_USER_AGENT = f"crawler/{__version__} (async web crawler; aiohttp)"
DEFAULT_CONFIG_PATH = Path("config/crawler.toml")
ENV_PREFIX = "CRAWLER_"
MIB = 1024 * 1024

Scope = Literal["host", "domain", "any"]
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
StoreBodies = Literal["none", "html", "all"]
ProxyStrategy = Literal["round-robin", "random", "sticky"]
PROXY_STRATEGIES: tuple[ProxyStrategy, ...] = ("round-robin", "random", "sticky")

SCOPES: tuple[Scope, ...] = ("host", "domain", "any")
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
STORE_BODIES: tuple[StoreBodies, ...] = ("none", "html", "all")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Every setting of a crawl. Names match the CLI flags (`--max-pages` is `max_pages`).

    Units: `delay`, `timeout`, `shutdown_grace` and `stall_timeout` in seconds, `max_size` in bytes.
    `max_pages`/`max_depth` of None mean no limit. Raises `ConfigError` on a bad value.
    """

    db: Path = Path("storage/crawl.db")
    concurrency: int = 64
    per_host: int = 4
    delay: float = 0.0
    max_pages: int | None = None
    max_depth: int | None = None
    scope: Scope = "host"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    timeout: float = 30.0
    user_agent: str = DEFAULT_USER_AGENT
    max_size: int = 10 * MIB
    log_format: LogFormat = "text"
    log_level: LogLevel = "info"
    progress: bool = True
    progress_interval: float = 10.0
    shutdown_grace: float = 20.0
    ignore_robots: bool = False
    allow_private_networks: bool = False
    ignore_robots_meta: bool = False
    max_url_length: int = 2048
    max_path_depth: int = 32
    max_segment_repeats: int = 3
    max_links_per_page: int = 1000
    max_pages_per_host: int | None = None
    adaptive_throttle: bool = True
    sitemaps: bool = False
    store_bodies: StoreBodies = "none"
    retries: int = 3
    retry_statuses: tuple[int, ...] = (408, 429, 500, 502, 503, 504)
    retry_max_wait: float = 60.0
    proxy: tuple[str, ...] = ()
    proxies_file: Path | None = None
    proxy_strategy: ProxyStrategy = "round-robin"
    proxy_ban_statuses: tuple[int, ...] = (403, 429)
    proxy_concurrency: int | None = None
    parser: str | None = None
    stall_timeout: float = 300.0

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            checked = SETTINGS[setting.name].check(setting.name, value, "Config()")
            if checked is not value:
                object.__setattr__(self, setting.name, checked)


@dataclass(frozen=True, slots=True)
class Setting:
    """How one setting is parsed from text, checked, and described in `--help`."""

    help: str
    parse_text: Callable[[str], object]
    validate: Callable[[object], object]
    metavar: str = "VALUE"

    def check(self, name: str, value: object, source: str) -> object:
        try:
            return self.validate(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value for {name!r} from {source}: {exc}") from None


def _int(minimum: int) -> Callable[[object], object]:
    def validate(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {value!r}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value}")
        return value

    return validate


def _optional_int(minimum: int) -> Callable[[object], object]:
    check_int = _int(minimum)

    def validate(value: object) -> int | None:
        return None if value is None else cast(int, check_int(value))

    return validate


def _float(minimum: float, *, allow_minimum: bool = True) -> Callable[[object], object]:
    def validate(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, got {value!r}")
        if number < minimum or (number == minimum and not allow_minimum):
            sign = ">=" if allow_minimum else ">"
            raise ValueError(f"must be {sign} {minimum:g}, got {value!r}")
        return number

    return validate


def _choice(choices: tuple[str, ...]) -> Callable[[object], object]:
    def validate(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    return validate


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {value!r}")
    return value


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value))


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of regular expressions, got {value!r}")
    for pattern in value:
        if not isinstance(pattern, str):
            raise TypeError(f"expected a regular expression, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return tuple(value)


def _parse_number(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None


def _parse_whole(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def _parse_optional_whole(text: str) -> object:
    return None if text.strip().lower() in ("", "none") else _parse_whole(text)


def _parse_bool(text: str) -> object:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_patterns(text: str) -> object:
    """One regex, or a JSON list of them (regexes may contain commas)."""
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON list of regular expressions: {exc}") from None
    return [text] if text else []


def _parse_statuses(text: str) -> object:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"expected comma-separated status codes, got {text!r}") from None


def _statuses(value: object) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of HTTP status codes, got {value!r}")
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status code: {code!r}")
    return tuple(value)


PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://", "socks4://")


def _proxies(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError("expected a list of proxy URLs")
    for proxy in value:
        if not isinstance(proxy, str) or not proxy.startswith(PROXY_SCHEMES):
            raise ValueError("expected http://, https://, socks5:// or socks4:// proxy URLs")
    return tuple(value)


_PARSER_REFERENCE = re.compile(r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _parser_reference(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PARSER_REFERENCE.match(value):
        raise ValueError(f"expected module:object or path/to/file.py:object, got {value!r}")
    return value


def _optional_path(value: object) -> Path | None:
    return None if value is None else _path(value)


def _same(text: str) -> object:
    return text


SETTINGS: dict[str, Setting] = {
    "db": Setting("SQLite database file (frontier and records)", _same, _path, metavar="PATH"),
    "concurrency": Setting("requests in flight at most", _parse_whole, _int(1), metavar="N"),
    "per_host": Setting("requests in flight per host at most", _parse_whole, _int(1), metavar="N"),
    "delay": Setting(
        "minimum seconds between two request starts to one host",
        _parse_number,
        _float(0),
        metavar="SECONDS",
    ),
    "max_pages": Setting(
        "stop after this many records in the database",
        _parse_optional_whole,
        _optional_int(1),
        metavar="N",
    ),
    "max_depth": Setting(
        "follow links up to this many hops from a seed",
        _parse_optional_whole,
        _optional_int(0),
        metavar="N",
    ),
    "scope": Setting(
        "host: only the seeds' hosts; domain: their registrable domains; any: everywhere",
        _same,
        _choice(SCOPES),
        metavar="{host,domain,any}",
    ),
    "allow": Setting(
        "only follow URLs matching one of these regexes",
        _parse_patterns,
        _patterns,
        metavar="REGEX",
    ),
    "deny": Setting(
        "never follow URLs matching any of these regexes",
        _parse_patterns,
        _patterns,
        metavar="REGEX",
    ),
    "timeout": Setting(
        "seconds for a whole request (connect: at most 10 s of it)",
        _parse_number,
        _float(0, allow_minimum=False),
        metavar="SECONDS",
    ),
    "user_agent": Setting("User-Agent header", _same, _text, metavar="TEXT"),
    "max_size": Setting(
        "largest body kept, in bytes after decompression", _parse_whole, _int(1), metavar="BYTES"
    ),
    "log_format": Setting(
        "text, or json (one object per line)", _same, _choice(LOG_FORMATS), metavar="{text,json}"
    ),
    "log_level": Setting(
        "debug, info, warning or error", _same, _choice(LOG_LEVELS), metavar="LEVEL"
    ),
    "progress": Setting(
        "the live progress line on a terminal (log lines instead)",
        _parse_bool,
        _bool,
        metavar="BOOL",
    ),
    "progress_interval": Setting(
        "seconds between progress log lines when not on a terminal",
        _parse_number,
        _float(0, allow_minimum=False),
        metavar="SECONDS",
    ),
    "ignore_robots": Setting("do not fetch or obey robots.txt", _parse_bool, _bool, metavar="BOOL"),
    "allow_private_networks": Setting(
        "also fetch loopback, private and link-local addresses not named by a seed",
        _parse_bool,
        _bool,
        metavar="BOOL",
    ),
    "ignore_robots_meta": Setting(
        "ignore rel=nofollow, <meta name=robots> and X-Robots-Tag (nofollow, noindex)",
        _parse_bool,
        _bool,
        metavar="BOOL",
    ),
    "max_url_length": Setting(
        "skip discovered URLs longer than this (characters)", _parse_whole, _int(16), metavar="N"
    ),
    "max_path_depth": Setting(
        "skip discovered URLs with more path segments than this", _parse_whole, _int(1), metavar="N"
    ),
    "max_segment_repeats": Setting(
        "skip discovered URLs repeating one path segment more often (/a/b/a/b/a/...)",
        _parse_whole,
        _int(1),
        metavar="N",
    ),
    "max_links_per_page": Setting(
        "follow at most this many links of one page", _parse_whole, _int(1), metavar="N"
    ),
    "max_pages_per_host": Setting(
        "record at most this many pages of one host (host and port)",
        _parse_optional_whole,
        _optional_int(1),
        metavar="N",
    ),
    "adaptive_throttle": Setting(
        "per-host delays that follow latency and back off on 429/5xx/connection errors",
        _parse_bool,
        _bool,
        metavar="BOOL",
    ),
    "sitemaps": Setting(
        "also queue the pages listed in the seed sites' sitemaps (robots.txt Sitemap: lines,"
        " else /sitemap.xml)",
        _parse_bool,
        _bool,
        metavar="BOOL",
    ),
    "store_bodies": Setting(
        "keep response bodies in the database: none, html (HTML pages), or all content types;"
        " pages marked noindex are never kept",
        _same,
        _choice(STORE_BODIES),
        metavar="{none,html,all}",
    ),
    "retries": Setting(
        "tries after the first, on connection errors, timeouts, DNS failures and retry statuses",
        _parse_whole,
        _int(0),
        metavar="N",
    ),
    "retry_statuses": Setting(
        "HTTP statuses worth another try (comma-separated)",
        _parse_statuses,
        _statuses,
        metavar="CODES",
    ),
    "retry_max_wait": Setting(
        "longest wait before a retry, in seconds (Retry-After is capped to it)",
        _parse_number,
        _float(0),
        metavar="SECONDS",
    ),
    "proxy": Setting(
        "send requests through these http(s) or socks proxies (user:password@ allowed)",
        _parse_patterns,
        _proxies,
        metavar="URL",
    ),
    "proxies_file": Setting(
        "a file of proxy URLs, one a line, used with --proxy ones",
        _same,
        _optional_path,
        metavar="FILE",
    ),
    "proxy_strategy": Setting(
        "round-robin, random, or sticky (one proxy per host while it works)",
        _same,
        _choice(PROXY_STRATEGIES),
        metavar="{round-robin,random,sticky}",
    ),
    "proxy_ban_statuses": Setting(
        "statuses that mean a proxy is banned: cool it down, try another (comma-separated)",
        _parse_statuses,
        _statuses,
        metavar="CODES",
    ),
    "proxy_concurrency": Setting(
        "requests in flight through one proxy at most",
        _parse_optional_whole,
        _optional_int(1),
        metavar="N",
    ),
    "shutdown_grace": Setting(
        "seconds in-flight requests get to finish after SIGTERM/SIGINT",
        _parse_number,
        _float(0),
        metavar="SECONDS",
    ),
    "stall_timeout": Setting(
        "seconds without progress before the watchdog acts: a request busy that long is given"
        " up (error 'stalled'), a crawl that stores nothing that long stops (exit 3); 0: off",
        _parse_number,
        _float(0),
        metavar="SECONDS",
    ),
    "parser": Setting(
        "your parsers: a Crawler or Router object, as module:object or file.py:object",
        _same,
        _parser_reference,
        metavar="MODULE:OBJECT",
    ),
}

DEFAULTS = Config()


def load_config(
    cli_values: Mapping[str, object] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults < TOML file < `CRAWLER_*` env < CLI values into one checked `Config`.

    The file is `config_file`, else `$CRAWLER_CONFIG`, else `config/crawler.toml` if it exists.
    Raises `ConfigError` naming the key and where it came from.
    """
    env = os.environ if environ is None else environ
    values: dict[str, tuple[object, str]] = {}
    path = config_file or _env_config_path(env)
    if path is not None:
        values.update(_read_toml(path, required=True))
    elif DEFAULT_CONFIG_PATH.is_file():
        values.update(_read_toml(DEFAULT_CONFIG_PATH, required=False))
    values.update(_read_env(env))
    for name, value in (cli_values or {}).items():
        if value is not None:
            values[name] = (value, f"--{name.replace('_', '-')}")
    checked = {
        name: SETTINGS[name].check(name, value, source) for name, (value, source) in values.items()
    }
    return Config(**checked)  # type: ignore[arg-type]  # keys and types were checked above


def _env_config_path(env: Mapping[str, str]) -> Path | None:
    text = env.get(f"{ENV_PREFIX}CONFIG", "").strip()
    return Path(text) if text else None


def _read_toml(path: Path, *, required: bool) -> dict[str, tuple[object, str]]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {path}") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, tuple[object, str]] = {}
    for key, value in document.items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r} in {path}")
        values[key] = (value, str(path))
    return values


def _read_env(env: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    values: dict[str, tuple[object, str]] = {}
    for variable, text in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == f"{ENV_PREFIX}CONFIG":
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in SETTINGS:
            raise ConfigError(f"unknown setting in environment variable {variable}")
        try:
            values[name] = (SETTINGS[name].parse_text(text), variable)
        except ValueError as exc:
            raise ConfigError(f"bad value for {name!r} from {variable}: {exc}") from None
    return values
