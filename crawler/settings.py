"""How a setting is declared, read from text and checked: the vocabulary of `crawler.config`.

A setting is a dataclass field declared with `setting()`: its default, its help, how its value
is checked and how it is read from an environment variable or a flag. Everything else (CLI
flags, `CRAWLER_*` names, TOML keys, `config/crawler.toml`, the README's table) is derived
from those declarations. This module knows no particular setting.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, get_args

from crawler.errors import ConfigError

T = TypeVar("T")
Check = Callable[[object], object]
"""Returns the value as the setting keeps it (a list becomes a tuple, say); raises
`TypeError` or `ValueError` with a message for a value it refuses."""
Parse = Callable[[str], object]
"""Turns the text of an environment variable or a flag into a value to check."""


@dataclass(frozen=True, slots=True)
class Setting:
    """What is known about one setting beyond its name, type and default."""

    help: str
    check: Check
    parse: Parse
    metavar: str = "VALUE"
    example: str | None = None  # TOML text shown (commented out) for a setting with no default
    unset: str = "none"  # what no value (None) means, as the help and README say it
    repeatable: bool = False  # a flag given several times adds up (`--deny a --deny b`)

    def checked(self, name: str, value: object, source: str) -> object:
        """The value as kept; raises `ConfigError` naming the setting and the source."""
        try:
            return self.check(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value for {name!r} from {source}: {exc}") from None

    def parsed(self, name: str, text: str, source: str) -> object:
        """The value a text stands for; raises `ConfigError` naming the setting and source."""
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ConfigError(f"bad value for {name!r} from {source}: {exc}") from None


def setting(  # noqa: PLR0913  # each keyword is one optional part of the declaration
    default: T,
    help: str,  # the word argparse uses
    *,
    check: Check,
    parse: Parse | None = None,
    metavar: str = "VALUE",
    example: str | None = None,
    unset: str = "none",
    repeatable: bool = False,
) -> T:
    """A dataclass field for a setting: `concurrency: int = setting(64, "...", check=...)`."""
    declared = Setting(help, check, parse or _text_as_is, metavar, example, unset, repeatable)
    return field(default=default, metadata={"setting": declared})


# The usual kinds of setting, each with its check, parser and metavar.


def count(
    default: T,
    help: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    example: str | None = None,
    unset: str = "no limit",
) -> T:
    """A whole number (`N`); with a default of None, None means `unset` (no limit)."""
    check = optional_whole(minimum, maximum) if default is None else whole(minimum, maximum)
    parse = parse_optional_whole if default is None else parse_whole
    return setting(
        default,
        help,
        check=check,
        parse=parse,
        metavar="N",
        example=example,
        unset=unset,
    )


def seconds(default: T, help: str, *, allow_zero: bool = True) -> T:
    """A duration in seconds (`SECONDS`), never negative."""
    check = number(0, allow_minimum=allow_zero)
    return setting(default, help, check=check, parse=parse_number, metavar="SECONDS")


def duration(default: T, help: str, *, example: str | None = None, unset: str = "off") -> T:
    """A span of time (`DURATION`): `90s`, `30m`, `12h`, `7d`, `2w`, or seconds as a number;
    with a default of None, None means `unset`."""
    return setting(
        default,
        help,
        check=optional_duration,
        parse=_parse_optional_text,
        metavar="DURATION",
        example=example,
        unset=unset,
    )


def switch(default: T, help: str) -> T:
    """On or off: a flag (`--name`, or `--no-name` when on by default)."""
    return setting(default, help, check=boolean, parse=parse_bool, metavar="BOOL")


def one_of(default: T, help: str, choices: object) -> T:
    """One of the values of a `Literal` type."""
    values = tuple(str(value) for value in get_args(choices))
    metavar = "{" + ",".join(values) + "}"
    return setting(default, help, check=choice(values), metavar=metavar)


def status_codes(default: T, help: str) -> T:
    """HTTP status codes, comma-separated in the environment and on the command line."""
    return setting(default, help, check=statuses, parse=parse_statuses, metavar="CODES")


def setting_of(declared: dataclasses.Field[object]) -> Setting:
    """The `Setting` a dataclass field was declared with."""
    found = declared.metadata["setting"]
    assert isinstance(found, Setting)
    return found


def option_of(name: str) -> str:
    """The command-line option of a setting: `max_pages` is `--max-pages`."""
    return "--" + name.replace("_", "-")


def flag_of(name: str, default: object) -> str:
    """The flag a person types: the option, or for a switch the one that changes it
    (`--sitemaps`, `--no-progress`)."""
    option = option_of(name)
    return f"--no-{option[2:]}" if default is True else option


def show(value: object, unset: str = "none") -> str:
    """A value as a person would type it: `64`, `0.5`, `408,429`, `storage/crawl.db`."""
    if value is None:
        return unset
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(show(item) for item in value) if value else "[]"
    return str(value)


def _text_as_is(text: str) -> object:
    return text


def _parse_optional_text(text: str) -> object:
    return None if text.strip().lower() in ("", "none", "off") else text


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*")


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `12h`, `7d`, `2w` or `3600`; raises `ValueError` otherwise."""
    match = _DURATION.fullmatch(text.lower())
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 12h or 7d, got {text!r}")
    seconds = float(match[1]) * DURATION_UNITS[match[2] or "s"]
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"must be longer than 0, got {text!r}")
    return seconds


# Checks: each returns the value as the setting keeps it, or raises with the reason.


def whole(minimum: int, maximum: int | None = None) -> Check:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {value!r}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum}, got {value}")
        return value

    return check


def optional_whole(minimum: int, maximum: int | None = None) -> Check:
    check_whole = whole(minimum, maximum)

    def check(value: object) -> object:
        return None if value is None else check_whole(value)

    return check


def number(minimum: float, *, allow_minimum: bool = True) -> Check:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        found = float(value)
        if not math.isfinite(found):
            raise ValueError(f"must be a finite number, got {value!r}")
        if found < minimum or (found == minimum and not allow_minimum):
            sign = ">=" if allow_minimum else ">"
            raise ValueError(f"must be {sign} {minimum:g}, got {value!r}")
        return found

    return check


def optional_duration(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_duration(value)
    seconds = number(0, allow_minimum=False)(value)
    assert isinstance(seconds, float)
    return seconds


def choice(choices: tuple[str, ...]) -> Check:
    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    return check


def text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {value!r}")
    return value


def path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    return Path(text(value))


def optional_path(value: object) -> Path | None:
    return None if value is None else path(value)


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def patterns(value: object) -> tuple[str, ...]:
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


def statuses(value: object) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of HTTP status codes, got {value!r}")
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status code: {code!r}")
    return tuple(value)


def urls_with_scheme(schemes: tuple[str, ...], what: str) -> Check:
    def check(value: object) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError(f"expected a list of {what} URLs")
        for url in value:
            if not isinstance(url, str) or not url.startswith(schemes):
                raise ValueError(f"expected {', '.join(schemes)} {what} URLs")
        return tuple(value)

    return check


def matching(pattern: str, expected: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return check


# Parsers: the text of an environment variable or a flag as a value to check.


def parse_number(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None


def parse_whole(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def parse_optional_whole(text: str) -> object:
    return None if text.strip().lower() in ("", "none") else parse_whole(text)


def parse_bool(text: str) -> object:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_list(text: str) -> object:
    """One value, or a JSON list of them (a regex may contain commas)."""
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON list: {exc}") from None
    return [text] if text else []


def parse_statuses(text: str) -> object:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"expected comma-separated status codes, got {text!r}") from None
