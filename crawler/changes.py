"""What changed since a time, from each URL's history: `export --changes-since`.

A URL `appeared` when its first fetch is at or after the time; it `disappeared` when it
answered 404 or 410 then, after a 2xx before; it `changed` when a record of it since differs
from the one before (status or sha256). Fetches that left the record as it was (a 304, a
transient failure) change nothing. It reads any `Storage`'s history; it knows no backend.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

from crawler.export import ExportFormat
from crawler.models import CHANGE_FIELDS, Change, Fetch, utc_timestamp
from crawler.settings import parse_duration

GONE_STATUSES = frozenset({404, 410})


def since_time(text: str, now: datetime) -> str:
    """A `fetched_at` time from an ISO date or time (`2026-11-30`, `2026-11-30T06:00:00+01:00`;
    UTC when no offset is given), or a span before `now` (`24h`, `7d`). Raises `ValueError`
    with the reason."""
    try:
        if text.strip()[-1:].isalpha() and not text.strip().endswith("Z"):  # a span: 24h
            moment = now - timedelta(seconds=parse_duration(text))
        else:
            moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            "expected an ISO date or time (2026-11-30, 2026-11-30T06:00:00Z) or a span"
            f" before now (24h, 7d), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_timestamp(moment.timestamp())


async def changes_since(history: AsyncIterator[Fetch], since: str) -> AsyncGenerator[Change, None]:
    """The changes of each URL in `history` (URL by URL, each in time order) since `since`."""
    fetches: list[Fetch] = []
    async for fetch in history:
        if fetches and fetch.url != fetches[0].url:
            change = change_of(fetches, since)
            if change is not None:
                yield change
            fetches = []
        fetches.append(fetch)
    if fetches:
        change = change_of(fetches, since)
        if change is not None:
            yield change


def change_of(fetches: Sequence[Fetch], since: str) -> Change | None:
    """What became of one URL since `since`, from its fetches in time order; None: nothing."""
    records = [fetch for fetch in fetches if not fetch.kept]
    before = [fetch for fetch in records if fetch.fetched_at < since]
    after = [fetch for fetch in records if fetch.fetched_at >= since]
    if not after:
        return None
    url, latest = after[-1].url, after[-1]
    if not before:
        return Change(url, "appeared", after[0].fetched_at, latest.status)
    previous = before[-1]
    if latest.status in GONE_STATUSES and 200 <= (previous.status or 0) < 300:
        gone = next(fetch for fetch in after if fetch.status in GONE_STATUSES)
        return Change(url, "disappeared", gone.fetched_at, latest.status)
    changed_at = None
    for earlier, later in zip([previous, *after], after, strict=False):
        if (earlier.status, earlier.sha256) != (later.status, later.sha256):
            changed_at = later.fetched_at
    if changed_at is None:
        return None
    return Change(url, "changed", changed_at, latest.status)


async def write_changes(
    changes: AsyncGenerator[Change, None], output: TextIO, export_format: ExportFormat
) -> int:
    """Write each change as a JSON line or a CSV row; returns how many were written."""
    count = 0
    async with contextlib.aclosing(changes):
        writer = csv.writer(output, lineterminator="\n") if export_format == "csv" else None
        if writer is not None:
            writer.writerow(CHANGE_FIELDS)
        async for change in changes:
            row = change.as_dict()
            if writer is not None:
                writer.writerow("" if value is None else value for value in row.values())
            else:
                output.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
