"""Reading seeds: one URL per line, `#` comments and blank lines skipped, bad lines reported.

Seeds are streamed: a file of millions of lines is never held in memory at once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from crawler.errors import SeedError
from crawler.models import Target
from crawler.urls import parse_absolute

log = logging.getLogger("crawler")
MAX_REPORTED_BAD_LINES = 20
MAX_LINE_CHARS = 64 * 1024  # longer lines (a binary file, say) are skipped as invalid


def read_seeds(source: str) -> Iterator[Target]:
    """Canonical seeds from a file path, or from stdin for `-`, read as they are consumed.

    Raises `SeedError` at once if the file cannot be opened, and at the end of the iteration
    if it held no valid seed. A URL given twice is yielded twice (the store keeps one).
    """
    if source == "-":
        return _stream(sys.stdin, "<stdin>", close=False)
    path = Path(source)
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise SeedError(f"seeds file not found: {source}") from None
    except IsADirectoryError:
        raise SeedError(f"seeds file is a directory: {source}") from None
    except OSError as exc:
        raise SeedError(f"cannot read seeds file {source}: {exc.strerror}") from None
    return _stream(handle, source, close=True)


def _stream(handle: TextIO, name: str, *, close: bool) -> Iterator[Target]:
    found = 0
    try:
        for seed in iter_seeds(_bounded_lines(handle), name):
            found += 1
            yield seed
    except OSError as exc:
        raise SeedError(f"cannot read seeds file {name}: {exc.strerror or exc}") from None
    finally:
        if close:
            handle.close()
    if not found:
        raise SeedError(f"no valid seed URL in {name}")


def _bounded_lines(handle: TextIO) -> Iterator[str]:
    """The handle's lines; a line longer than MAX_LINE_CHARS comes out as one invalid line."""
    while line := handle.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            while (rest := handle.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
            yield "(a line of more than 64 KiB)"
            continue
        yield line


def iter_seeds(lines: Iterable[str], name: str, *, first_line: int = 1) -> Iterator[Target]:
    """Canonical seeds from lines of text, lazily; `#` comments and blank lines are skipped,
    invalid lines reported in the log (as `name:line`, counting from `first_line`)."""
    bad = 0
    for number, text in _numbered_entries(lines, first_line):
        target = parse_absolute(text)
        if target is None:
            bad += 1
            if bad <= MAX_REPORTED_BAD_LINES:
                log.warning(
                    "%s:%d: not an absolute http(s) URL, skipped: %.200r", name, number, text
                )
            continue
        yield target
    if bad > MAX_REPORTED_BAD_LINES:
        log.warning("%s: %d invalid lines skipped in all", name, bad)


def _numbered_entries(lines: Iterable[str], first_line: int) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=first_line):
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text
