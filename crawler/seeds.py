"""Seeds: read from a file or given by a program, checked, and queued in the store in batches.

Seeds are streamed: a file of millions of lines is never held in memory at once. In a file,
one URL per line; `#` comments and blank lines are skipped, bad lines reported.

It writes only through `Storage.add_requests`.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from yarl import URL

from crawler.errors import SeedError
from crawler.models import CrawlRequest, FollowRequest, Target
from crawler.page import Request
from crawler.store import Storage
from crawler.urls import origin_of, parse_absolute

log = logging.getLogger("crawler")
MAX_REPORTED_BAD_LINES = 20
MAX_LINE_CHARS = 64 * 1024  # longer lines (a binary file, say) are skipped as invalid
SEED_BATCH = 10_000  # seeds parsed, and stored, at a time
T = TypeVar("T")


def read_seeds(source: str) -> Iterator[Target]:
    """Canonical seeds from a file path, or from stdin for `-`, read as they are consumed.

    Raises `SeedError` at once if the file cannot be opened or holds no valid seed (it reads up
    to the first valid one, so nothing is created for a crawl that cannot start). A URL given
    twice is yielded twice (the store keeps one).
    """
    if source == "-":
        return first_checked(_stream(sys.stdin, "<stdin>", close=False))
    path = Path(source)
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise SeedError(f"seeds file not found: {source}") from None
    except IsADirectoryError:
        raise SeedError(f"seeds file is a directory: {source}") from None
    except OSError as exc:
        raise SeedError(f"cannot read seeds file {source}: {exc.strerror}") from None
    return first_checked(_stream(handle, source, close=True))


def first_checked(seeds: Iterator[T]) -> Iterator[T]:
    """`seeds`, its first one read now: a source without any raises `SeedError` here, before
    anything (a database, a log line) is made for a crawl that cannot start."""
    try:
        first = next(seeds)
    except StopIteration:
        raise SeedError("no valid seed URL given") from None
    return itertools.chain((first,), seeds)


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


def crawl_seeds(
    seeds: Iterable[str | Request | Target] | str,
) -> Iterator[Target | FollowRequest]:
    """A program's seeds (URLs or `Request`s) as the engine takes them, converted as they are
    consumed; invalid URLs are logged and skipped. Raises `SeedError` at the end if none was
    valid, or for a `Request` that is not an absolute http(s) URL."""
    texts: list[str] = []
    found = given = 0
    for seed in [seeds] if isinstance(seeds, str) else seeds:
        given += 1
        if isinstance(seed, Target):
            found += 1
            yield seed
        elif isinstance(seed, Request):
            target = parse_absolute(seed.url)
            follow = seed.to_follow(URL(target.url), unique=False) if target else None
            if follow is None:
                raise SeedError(f"seed request is not an absolute http(s) URL: {seed.url!r:.200}")
            found += 1
            yield follow
        else:
            texts.append(seed)
            if len(texts) >= SEED_BATCH:
                found += yield from _parsed(texts, given - len(texts) + 1)
    found += yield from _parsed(texts, given - len(texts) + 1)
    if not found:
        raise SeedError("no valid seed URL given")


def _parsed(texts: list[str], first: int) -> Generator[Target, None, int]:
    """The seeds among `texts` (emptied), the `first`-th seed given; returns how many."""
    targets = list(iter_seeds(texts, "seeds", first_line=first))
    texts.clear()
    yield from targets
    return len(targets)


@dataclass(frozen=True, slots=True)
class QueuedSeeds:
    """What the seeds tell the crawl: the hosts in its scope, the sites to read sitemaps of."""

    hostnames: frozenset[str]
    origins: tuple[str, ...]


async def queue_seeds(
    storage: Storage,
    seeds: Iterable[Target | FollowRequest],
    *,
    is_stopping: Callable[[], bool],
) -> QueuedSeeds:
    """Store the seeds the crawl has not seen, batch by batch; stops early (a rerun reads them
    again) once `is_stopping()` says so."""
    hostnames: set[str] = set()
    origins: dict[str, None] = {}
    batch: list[CrawlRequest] = []
    read = added = 0
    for seed in seeds:
        read += 1
        target, options = (seed, None) if isinstance(seed, Target) else (seed.target, seed.options)
        batch.append(CrawlRequest(target.url, target.host, 0, options=options))
        hostnames.add(target.hostname)
        origins.setdefault(origin_of(target.url))
        if len(batch) >= SEED_BATCH:
            added += await storage.add_requests(batch)
            batch = []
            if is_stopping():
                break
    added += await storage.add_requests(batch)
    log.info("%d seeds read, %d of them new to the crawl", read, added)
    return QueuedSeeds(frozenset(hostnames), tuple(origins))
