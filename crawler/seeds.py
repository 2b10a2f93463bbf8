"""Reading seeds: one URL per line, `#` comments and blank lines skipped, bad lines reported."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from crawler.errors import SeedError
from crawler.models import Target
from crawler.urls import parse_absolute

log = logging.getLogger("crawler")
MAX_REPORTED_BAD_LINES = 20


def read_seeds(source: str) -> list[Target]:
    """Canonical seeds from a file path, or from stdin for `-`, each URL once.

    Raises `SeedError` if the file cannot be read or holds no valid seed.
    """
    if source == "-":
        return _collect(sys.stdin, "<stdin>")
    path = Path(source)
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            return _collect(lines, source)
    except FileNotFoundError:
        raise SeedError(f"seeds file not found: {source}") from None
    except IsADirectoryError:
        raise SeedError(f"seeds file is a directory: {source}") from None
    except OSError as exc:
        raise SeedError(f"cannot read seeds file {source}: {exc.strerror}") from None


def _collect(lines: Iterable[str], name: str) -> list[Target]:
    seeds = parse_seeds(lines, name)
    if not seeds:
        raise SeedError(f"no valid seed URL in {name}")
    return seeds


def parse_seeds(lines: Iterable[str], name: str) -> list[Target]:
    """Canonical seeds from lines of text, each URL once; `#` comments and blank lines are
    skipped, invalid lines reported in the log (as `name:line`)."""
    seeds: dict[str, Target] = {}
    bad = 0
    for number, text in _numbered_entries(lines):
        target = parse_absolute(text)
        if target is None:
            bad += 1
            if bad <= MAX_REPORTED_BAD_LINES:
                log.warning(
                    "%s:%d: not an absolute http(s) URL, skipped: %.200r", name, number, text
                )
            continue
        seeds.setdefault(target.url, target)
    if bad > MAX_REPORTED_BAD_LINES:
        log.warning("%s: %d invalid lines skipped in all", name, bad)
    return list(seeds.values())


def _numbered_entries(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text
