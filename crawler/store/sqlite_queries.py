"""The SQL of the SQLite backend, each statement named for what it does.

Only `crawler.store.sqlite` uses it. Times are epoch seconds (`not_before`) or ISO text
(`fetched_at`).
"""

from __future__ import annotations

from crawler.store.rows import (
    CAPTURE_COLUMNS,
    HAS_RECORD,
    HISTORY_COLUMNS,
    PROXY_FIGURES,
    RECORD_COLUMNS,
    RESULT_COLUMNS,
)
from crawler.store.sqlite_file import State

QUEUED, CLAIMED, DONE = State.QUEUED, State.CLAIMED, State.DONE

INSERT = "INSERT OR IGNORE INTO urls (url, host, depth, parent) VALUES (?, ?, ?, ?)"
INSERT_WITH_OPTIONS = (
    "INSERT OR IGNORE INTO urls (url, host, depth, parent, variant, priority, method, headers,"
    " request_body, meta, handler) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_QUEUED = f"state = {QUEUED:d}"
_REQUEUED = f"state = {QUEUED:d} AND fetched_at IS NOT NULL"  # see the urls_requeued index


def _next_host(which: str) -> str:
    return f"SELECT host FROM urls WHERE {which} AND host > ? ORDER BY host LIMIT 1"


def _ready_of_host(which: str) -> str:
    return (
        "SELECT id, url, depth, parent, retries, etag, last_modified, fetched_at IS NOT NULL,"
        " variant, priority, method, headers, request_body, meta, handler"
        f" FROM urls WHERE {which} AND host = ? AND (not_before IS NULL OR not_before <= ?)"
        " ORDER BY priority DESC, depth, id LIMIT ?"
    )


# The next host with queued requests, and its requests to go first; REQUEUED: only those with
# a record already (a recrawl's, once max_pages allows no new records).
NEXT_QUEUED_HOST, NEXT_REQUEUED_HOST = _next_host(_QUEUED), _next_host(_REQUEUED)
QUEUED_OF_HOST, REQUEUED_OF_HOST = _ready_of_host(_QUEUED), _ready_of_host(_REQUEUED)
CLAIM = f"UPDATE urls SET state = {CLAIMED:d} WHERE id = ?"
EARLIEST_NOT_BEFORE = (
    f"SELECT min(not_before) FROM urls WHERE state = {QUEUED:d} AND not_before IS NOT NULL"
)
RELEASE = (
    f"UPDATE urls SET state = {QUEUED:d}, retries = ?, not_before = ?"
    f" WHERE id = ? AND state = {CLAIMED:d}"
)
# A recrawl: the GETs recorded before a time are queued again, keeping their records.
REQUEUE_RECORDED = (
    f"UPDATE urls SET state = {QUEUED:d}, retries = 0, not_before = NULL"
    f" WHERE state = {DONE:d} AND method IS NULL AND fetched_at < ?"
)

FINISH = (
    f"UPDATE urls SET state = {DONE:d}, "
    + ", ".join(f"{column} = ?" for column in RESULT_COLUMNS.split(", "))
    + ", etag = ?, last_modified = ? WHERE id = ?"
)
# A refetch that leaves the record as it was (see `rows.kept_row`).
KEEP_RECORD = (
    f"UPDATE urls SET state = {DONE:d}, fetched_at = coalesce(?, fetched_at),"
    " elapsed_ms = coalesce(?, elapsed_ms) WHERE id = ?"
)
ADD_HISTORY = f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
# A URL a redirect chain passed through: recorded unless it is already claimed or decided.
RECORD_REDIRECTED = (
    "INSERT INTO urls (url, host, depth, parent, state, final_url, status, content_type, size,"
    f" sha256, error, retries, fetched_at, elapsed_ms, redirects)"
    f" VALUES (?, ?, ?, ?, {DONE:d}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    f" ON CONFLICT (url, variant) DO UPDATE SET state = {DONE:d}, final_url = excluded.final_url,"
    " status = excluded.status, content_type = excluded.content_type, size = excluded.size,"
    " sha256 = excluded.sha256, error = excluded.error, fetched_at = excluded.fetched_at,"
    " elapsed_ms = excluded.elapsed_ms, redirects = excluded.redirects,"
    f" etag = NULL, last_modified = NULL WHERE urls.state = {QUEUED:d}"
)
# Its history: the row, if the record above is the one stored (URL, fetched_at).
REDIRECTED_HISTORY = (
    f"INSERT INTO history ({HISTORY_COLUMNS})"
    " SELECT id, fetched_at, status, sha256, error, 0 FROM urls"
    " WHERE url = ? AND variant = '' AND fetched_at = ?"
)
# What a refetched page replaces: its items, body and links, by its id.
FORGET_REPLACED = (
    "DELETE FROM items WHERE page = ?",
    "DELETE FROM bodies WHERE id = ?",
    "DELETE FROM links WHERE id = ?",
)
ADD_ITEM = "INSERT INTO items (url, handler, data, page) VALUES (?, ?, ?, ?)"
KEEP_CAPTURE = f"INSERT OR REPLACE INTO bodies (id, {CAPTURE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
KEEP_LINKS = "INSERT OR REPLACE INTO links (id, targets) VALUES (?, ?)"

COUNT = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
SET_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
SAVE_PROXY = (
    f"INSERT OR REPLACE INTO proxies (proxy, {', '.join(PROXY_FIGURES)}) VALUES (?, ?, ?, ?, ?, ?)"
)
OVER_HOST_BUDGET = (
    f"SELECT count(*) FROM urls WHERE state = {QUEUED:d} AND host IN"
    f" (SELECT host FROM urls WHERE state = {DONE:d} GROUP BY host HAVING count(*) >= ?)"
)

IS_RECORDED = f"SELECT 1 FROM urls WHERE url = ? AND variant = '' AND state = {DONE:d}"
TOTALS = (
    f"SELECT coalesce(sum(state = {DONE:d}), 0), coalesce(sum(state < {DONE:d}), 0),"
    f" coalesce(sum({HAS_RECORD}), 0) FROM urls"
)
RECORDS = f"SELECT {RECORD_COLUMNS} FROM urls WHERE {HAS_RECORD} ORDER BY id"
CAPTURES = (
    f"SELECT {RECORD_COLUMNS}, {{capture_columns}} FROM urls JOIN bodies USING (id)"
    f" WHERE {HAS_RECORD} ORDER BY id"
)
ITEMS = "SELECT url, handler, data FROM items ORDER BY id"
FETCHED_BETWEEN = f"SELECT min(fetched_at), max(fetched_at) FROM urls WHERE {HAS_RECORD}"
COUNT_ITEMS = "SELECT count(*) FROM items"
COUNTERS = "SELECT name, value FROM counters WHERE name NOT LIKE 'proxy %' ORDER BY name"
# Records (or this round's, by `state`) grouped by an expression, most first.
GROUPED = (
    "SELECT {expression} AS key, count(*) AS n FROM urls WHERE {which}"
    " GROUP BY key ORDER BY n DESC, key"
)
THIS_ROUND = f"state = {DONE:d}"
BODY_OF = "SELECT {capture_columns} FROM bodies JOIN urls USING (id) WHERE url = ? AND variant = ''"
