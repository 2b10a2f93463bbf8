"""Records to rows and back, the same for every SQL backend: the request options a row keeps,
a record's result columns, a proxy's figures.

Only the backends in `crawler.store` use it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from crawler.models import (
    CrawlRequest,
    HttpCapture,
    Kept,
    Outcome,
    PageRecord,
    ProxyFigures,
    RequestOptions,
    Validators,
)

try:
    from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # Python 3.14+
except ImportError:
    from backports import zstd

PROXY_FIGURES = tuple(figure.name for figure in fields(ProxyFigures))
RESULT_COLUMNS = (
    "final_url, status, content_type, size, sha256, error, retries, fetched_at, elapsed_ms,"
    " redirects"
)
"""The columns of `result_columns()`, in its order."""
RECORD_COLUMNS = (
    "url, final_url, status, depth, parent, content_type, size, sha256, error, retries,"
    " fetched_at, elapsed_ms, redirects"
)
"""The columns of a `PageRecord`, in its order."""
CAPTURE_COLUMNS = "body, codec, request, response_head"
"""The columns of `capture_row()` after the id, and what `capture_from()` takes."""
OLD_CAPTURE_COLUMNS = "body, NULL, NULL, NULL"
"""The same of a file made before captures (schema 5 and older): the body, uncompressed."""
HAS_RECORD = "(state = 2 OR fetched_at IS NOT NULL)"
"""A row with a record: done in this round (2 is `DONE` in every backend), or fetched before
and queued again by a recrawl (it keeps its record until refetched)."""
HISTORY_COLUMNS = "id, fetched_at, status, sha256, error, kept"
"""The columns of a `history` row, in the order of `history_row()`."""
HISTORY_SINCE = (
    "SELECT urls.url, history.fetched_at, history.status, history.sha256, history.error,"
    " history.kept FROM history JOIN urls USING (id)"
    " WHERE history.id IN (SELECT id FROM history WHERE fetched_at >= {since})"
    " ORDER BY history.id, history.fetched_at"
)
"""The whole history of each URL fetched at or after a time (`{since}`: the parameter), by
URL in queue order, then in time order; the rows of `Fetch`."""


def proxy_figures(values: Sequence[object]) -> ProxyFigures:
    figures = dict(zip(PROXY_FIGURES, values, strict=True))
    figures["evicted"] = bool(figures["evicted"])
    return ProxyFigures(**figures)  # type: ignore[arg-type]  # the columns hold the ints


def options_row(request: CrawlRequest) -> tuple[object, ...]:
    options = request.options or RequestOptions()
    return (
        request.url,
        request.host,
        request.depth,
        request.parent,
        options.variant,
        options.priority,
        None if options.method == "GET" else options.method,
        json.dumps(options.headers) if options.headers else None,
        options.body,
        options.meta,
        options.handler,
    )


def options_of(columns: list[Any]) -> RequestOptions | None:
    """The options stored in the columns `variant` to `handler`; None for a plain GET."""
    variant, priority, method, headers, body, meta, handler = columns
    if not variant and not priority and (method, headers, body, meta, handler) == (None,) * 5:
        return None
    return RequestOptions(
        method=method or "GET",
        headers=tuple((str(k), str(v)) for k, v in json.loads(headers)) if headers else (),
        body=None if body is None else bytes(body),
        meta=meta,
        priority=priority,
        handler=handler,
        variant=variant,
    )


def redirected_row(request: CrawlRequest, record: PageRecord) -> tuple[object, ...]:
    return (request.url, request.host, request.depth, request.parent, *result_columns(record))


def finish_row(outcome: Outcome) -> tuple[object, ...]:
    """The columns of a recorded outcome: RESULT_COLUMNS, etag, last_modified, then the id."""
    validators = outcome.validators or Validators()
    return (
        *result_columns(outcome.record),
        validators.etag,
        validators.last_modified,
        outcome.request.id,
    )


def kept_row(outcome: Outcome) -> tuple[object, ...]:
    """The new fetch time and time taken of a page whose record stands, then its id: a 304
    moves them on; a transient failure leaves them (None), so the next recrawl tries again."""
    record, moves_on = outcome.record, outcome.kept is Kept.UNCHANGED
    return (
        record.fetched_at if moves_on else None,
        record.elapsed_ms if moves_on else None,
        outcome.request.id,
    )


def history_row(outcome: Outcome) -> tuple[object, ...]:
    """The `history` row of a finished request (HISTORY_COLUMNS)."""
    record = outcome.record
    return (
        outcome.request.id,
        record.fetched_at,
        record.status,
        None if outcome.kept else record.sha256,
        record.error,
        int(outcome.kept is not None),
    )


def refetched_ids(outcomes: Sequence[Outcome]) -> list[tuple[object]]:
    """The ids of refetched pages whose record is replaced: their items, body and links go
    before the new ones are stored."""
    return [
        (outcome.request.id,)
        for outcome in outcomes
        if outcome.request.last is not None and outcome.kept is None
    ]


def item_rows(outcomes: Sequence[Outcome]) -> list[tuple[object, ...]]:
    """The `items` rows of the outcomes: url, handler, data, page id."""
    return [(i.url, i.handler, i.data, o.request.id) for o in outcomes for i in o.items]


def last_validators(
    etag: str | None, last_modified: str | None, recorded: bool
) -> Validators | None:
    """What a claimed request knows of its last answer: None when it has no record yet."""
    return Validators(etag, last_modified) if recorded else None


def result_columns(record: PageRecord) -> tuple[object, ...]:
    """A record's fetch results, in the order of RESULT_COLUMNS."""
    return (
        record.final_url,
        record.status,
        record.content_type,
        record.size,
        record.sha256,
        record.error,
        record.retries,
        record.fetched_at,
        record.elapsed_ms,
        record.redirects,
    )


def capture_row(outcome: Outcome) -> tuple[object, ...] | None:
    """The `bodies` row of an outcome with a capture: the body compressed with zstd."""
    capture = outcome.capture
    if capture is None:
        return None
    body = bytes(zstd.compress(capture.body))
    return (outcome.request.id, body, "zstd", capture.request, capture.response_head)


def capture_from(
    body: bytes, codec: str | None, request: bytes | None, head: bytes | None
) -> HttpCapture:
    """A capture from its `bodies` columns (no heads in rows stored before they were kept)."""
    raw = bytes(body)
    if codec == "zstd":
        raw = bytes(zstd.decompress(raw))
    return HttpCapture(bytes(request or b""), bytes(head or b""), raw)
