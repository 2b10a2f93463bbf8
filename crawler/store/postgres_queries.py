"""The SQL of the PostgreSQL backend, each statement named for what it does.

Only `crawler.store.postgres` uses it. `$n` are asyncpg's parameters; times are epoch seconds.
"""

from __future__ import annotations

from crawler.store.postgres_schema import CLAIMED, DONE, QUEUED
from crawler.store.rows import (
    CAPTURE_COLUMNS,
    HAS_RECORD,
    HISTORY_COLUMNS,
    PROXY_FIGURES,
    RECORD_COLUMNS,
    RESULT_COLUMNS,
)

OPTION_COLUMNS = ("variant", "priority", "method", "headers", "request_body", "meta", "handler")
# Each test probes one partial index (urls_queued or urls_claimed) by host: no OR across them,
# which would scan the table.
_HAS_READY = (
    f"EXISTS (SELECT 1 FROM urls WHERE urls.host = {{host}} AND urls.state = {QUEUED}"
    " AND (urls.not_before IS NULL OR urls.not_before <= {now}) LIMIT 1)"
)
_HAS_CLAIMED = (
    f"EXISTS (SELECT 1 FROM urls WHERE urls.host = {{host}} AND urls.state = {CLAIMED}"
    " AND {who} LIMIT 1)"
)
# A host with work: ready requests, or claims of another worker. Probed host by host (a lateral
# join): as an OR of EXISTS the planner would hash every queued row to answer for a few hosts.
_HAS_WORK = f"""CROSS JOIN LATERAL (
    SELECT 1 FROM urls WHERE urls.host = {{host}} AND urls.state = {QUEUED}
        AND (urls.not_before IS NULL OR urls.not_before <= {{now}})
    UNION ALL
    SELECT 1 FROM urls WHERE urls.host = {{host}} AND urls.state = {CLAIMED} AND {{who}}
    LIMIT 1
) AS has_work"""

# Queue what is new (by URL and variant), and its host; $1..$11 are the columns of options_row.
# Ids are drawn in the order given (the queue order), rows inserted in (url, variant) order:
# two processes queueing the same links take their locks in the same order, and cannot
# deadlock.
_REQUEST_COLUMNS = f"url, host, depth, parent, {', '.join(OPTION_COLUMNS)}"
INSERT_REQUESTS = f"""
WITH given AS (
    SELECT given.*, nextval(pg_get_serial_sequence('urls', 'id')) AS new_id
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[],
                $7::text[], $8::text[], $9::bytea[], $10::text[], $11::text[])
         WITH ORDINALITY AS given({_REQUEST_COLUMNS}, position)
    ORDER BY position
), new AS (
    INSERT INTO urls (id, {_REQUEST_COLUMNS}) OVERRIDING SYSTEM VALUE
    SELECT new_id, {_REQUEST_COLUMNS} FROM given ORDER BY url, variant
    ON CONFLICT (url, variant) DO NOTHING
    RETURNING host
), new_hosts AS (
    INSERT INTO hosts (host) SELECT DISTINCT host FROM new ORDER BY host
    ON CONFLICT (host) DO NOTHING
)
SELECT count(*) FROM new
"""

# Take up to $4 hosts that have work: free ones (lease run out) or ones this worker ($1) gave
# back; least recently leased first. Claims left on them by others are orphans (see below).
LEASE_HOSTS = f"""
UPDATE hosts SET holder = $1, lease_until = $3, leased_at = $2
WHERE host IN (
    SELECT candidate.host FROM hosts AS candidate
    {_HAS_WORK.format(host="candidate.host", now="$2", who="urls.claimed_by <> $1")}
    WHERE (candidate.lease_until < $2 OR candidate.holder = $1)
      AND candidate.host <> ALL($5::text[])
    ORDER BY candidate.leased_at
    LIMIT $4
    FOR UPDATE OF candidate SKIP LOCKED
)
RETURNING host
"""
RECLAIM_ORPHANS = f"""
UPDATE urls SET state = {QUEUED}, claimed_by = NULL
WHERE host = ANY($1::text[]) AND state = {CLAIMED} AND claimed_by IS DISTINCT FROM $2
"""

# The ready requests of hosts $1, at most $2[i] of host $1[i], each host's in the order they
# are to go: priority, then depth, then queue order.
# Only hosts still leased to worker $4: one whose lease ran out may be someone else's now.
_READY_OF_HOSTS = f"""
SELECT wanted.host, picked.id FROM unnest($1::text[], $2::int[]) AS wanted(host, room)
JOIN hosts ON hosts.host = wanted.host AND hosts.holder = $4 AND hosts.lease_until > $3
CROSS JOIN LATERAL (
    SELECT queued.id, queued.priority, queued.depth FROM urls AS queued
    WHERE queued.host = wanted.host AND queued.state = {QUEUED}{{recorded}}
      AND (queued.not_before IS NULL OR queued.not_before <= $3)
    ORDER BY queued.priority DESC, queued.depth, queued.id
    LIMIT wanted.room
) AS picked
ORDER BY wanted.host, picked.priority DESC, picked.depth, picked.id
"""
READY_OF_HOSTS = _READY_OF_HOSTS.format(recorded="")
# The same, of the requests with a record already (a recrawl's, once max_pages allows no new
# records): see the urls_requeued index.
REQUEUED_OF_HOSTS = _READY_OF_HOSTS.format(recorded=" AND queued.fetched_at IS NOT NULL")
CLAIM = f"""
UPDATE urls SET state = {CLAIMED}, claimed_by = $1 WHERE id = ANY($2::bigint[])
RETURNING id, url, host, depth, parent, retries, {", ".join(OPTION_COLUMNS)},
    etag, last_modified, fetched_at IS NOT NULL AS recorded
"""

# Hosts $2 of worker $1 with nothing ready or claimed go back: others may take them at $4.
GIVE_BACK_IDLE = f"""
UPDATE hosts SET lease_until = $4
WHERE holder = $1 AND host = ANY($2::text[])
  AND NOT {_HAS_READY.format(host="hosts.host", now="$3")}
  AND NOT {_HAS_CLAIMED.format(host="hosts.host", who="urls.claimed_by = $1")}
RETURNING host
"""
# Hosts $2 over their page budget go back at once; worker $1 will not lease them again.
GIVE_BACK_SPENT = f"""
UPDATE hosts SET holder = NULL, lease_until = 0
WHERE holder = $1 AND host = ANY($2::text[])
  AND NOT {_HAS_CLAIMED.format(host="hosts.host", who="urls.claimed_by = $1")}
RETURNING host
"""
DONE_OF_HOSTS = (
    f"SELECT host, count(*) FROM urls WHERE host = ANY($1::text[]) AND state = {DONE} GROUP BY host"
)
RENEW = (
    "UPDATE hosts SET lease_until = $3 WHERE holder = $1 AND host = ANY($2::text[]) RETURNING host"
)

# When more work may become claimable: a retry coming due, or a lease of another worker
# (which may be dead) running out on a host that still has work.
NEXT_DUE = f"""
SELECT min(due) FROM (
    SELECT min(not_before) AS due FROM urls
    WHERE state = {QUEUED} AND not_before IS NOT NULL AND not_before > $1
    UNION ALL
    SELECT min(lease_until) FROM hosts
    {_HAS_WORK.format(host="hosts.host", now="'Infinity'", who="TRUE")}
    WHERE holder IS DISTINCT FROM $2 AND lease_until > $1
) AS dues
"""

_RESULTS = [*RESULT_COLUMNS.split(", "), "etag", "last_modified"]
# Recorded only while still claimed by the worker (last parameter): a claim taken over by
# another process is that process's to record. The parameters are those of `rows.finish_row`.
FINISH = (
    f"UPDATE urls SET state = {DONE}, claimed_by = NULL, "
    + ", ".join(f"{column} = ${n}" for n, column in enumerate(_RESULTS, start=1))
    + f" WHERE id = ${len(_RESULTS) + 1} AND claimed_by = ${len(_RESULTS) + 2}"
)
# A refetch that leaves the record as it was (see `rows.kept_row`).
KEEP_RECORD = (
    f"UPDATE urls SET state = {DONE}, claimed_by = NULL, fetched_at = coalesce($1, fetched_at),"
    " elapsed_ms = coalesce($2, elapsed_ms) WHERE id = $3 AND claimed_by = $4"
)
ADD_HISTORY = (
    f"INSERT INTO history ({HISTORY_COLUMNS})"
    " SELECT $1::bigint, $2::text, $3::int, $4::text, $5::text, $6::smallint"
    " WHERE EXISTS (SELECT 1 FROM urls WHERE id = $1 AND claimed_by = $7)"
)
# A URL a redirect chain passed through: recorded unless it is already claimed or decided.
_HOP_RESULTS = RESULT_COLUMNS.split(", ")
RECORD_REDIRECTED = (
    f"INSERT INTO urls (url, host, depth, parent, state, {RESULT_COLUMNS})"
    f" VALUES ($1, $2, $3, $4, {DONE}, "
    + ", ".join(f"${n}" for n in range(5, len(_HOP_RESULTS) + 5))
    + f") ON CONFLICT (url, variant) DO UPDATE SET state = {DONE}, "
    + ", ".join(f"{column} = excluded.{column}" for column in _HOP_RESULTS if column != "retries")
    + f", etag = NULL, last_modified = NULL WHERE urls.state = {QUEUED}"
)
# Its history: the row, if the record above is the one stored (URL, fetched_at).
REDIRECTED_HISTORY = (
    f"INSERT INTO history ({HISTORY_COLUMNS})"
    " SELECT id, fetched_at, status, sha256, error, 0 FROM urls"
    " WHERE url = $1 AND variant = '' AND fetched_at = $2"
)
# What a refetched page replaces: its items, body and links, by its id.
FORGET_REPLACED = (
    "DELETE FROM items WHERE page = $1",
    "DELETE FROM bodies WHERE id = $1",
    "DELETE FROM links WHERE id = $1",
)
# A recrawl: the GETs recorded before a time are queued again, keeping their records.
REQUEUE_RECORDED = (
    f"UPDATE urls SET state = {QUEUED}, retries = 0, not_before = NULL"
    f" WHERE state = {DONE} AND method IS NULL AND fetched_at < $1"
)
RELEASE = (
    f"UPDATE urls SET state = {QUEUED}, retries = $1, not_before = $2, claimed_by = NULL"
    f" WHERE id = $3 AND state = {CLAIMED} AND claimed_by = $4"
)
RELEASE_ALL_CLAIMS = (
    f"UPDATE urls SET state = {QUEUED}, claimed_by = NULL"
    f" WHERE state = {CLAIMED} AND claimed_by = $1"
)
GIVE_BACK_ALL = "UPDATE hosts SET holder = NULL, lease_until = 0 WHERE holder = $1"

COUNT = (
    "INSERT INTO counters (name, value) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value"
)
SET_COUNTER = (
    "INSERT INTO counters (name, value) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
KEEP_LINKS = (
    "INSERT INTO links (id, targets) VALUES ($1, $2)"
    " ON CONFLICT (id) DO UPDATE SET targets = excluded.targets"
)
ADD_ITEM = "INSERT INTO items (url, handler, data, page) VALUES ($1, $2, $3, $4)"
KEEP_CAPTURE = (
    f"INSERT INTO bodies (id, {CAPTURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (id) DO UPDATE SET body = excluded.body, codec = excluded.codec,"
    " request = excluded.request, response_head = excluded.response_head"
)
SAVE_PROXY = (
    f"INSERT INTO proxies (proxy, {', '.join(PROXY_FIGURES)}) VALUES ("
    + ", ".join(f"${n}" for n in range(1, len(PROXY_FIGURES) + 2))
    + ") ON CONFLICT (proxy) DO UPDATE SET "
    + ", ".join(f"{figure} = excluded.{figure}" for figure in PROXY_FIGURES)
)

IS_RECORDED = f"SELECT 1 FROM urls WHERE url = $1 AND variant = '' AND state = {DONE}"
TOTALS = (
    f"SELECT count(*) FILTER (WHERE state = {DONE}), count(*) FILTER (WHERE state < {DONE}),"
    f" count(*) FILTER (WHERE {HAS_RECORD}) FROM urls"
)
OVER_HOST_BUDGET = (
    f"SELECT count(*) FROM urls WHERE state = {QUEUED} AND host IN"
    f" (SELECT host FROM urls WHERE state = {DONE} GROUP BY host HAVING count(*) >= $1)"
)
RECORDS = f"SELECT {RECORD_COLUMNS} FROM urls WHERE {HAS_RECORD} ORDER BY id"
CAPTURES = (
    f"SELECT {RECORD_COLUMNS}, {CAPTURE_COLUMNS} FROM urls JOIN bodies USING (id)"
    f" WHERE {HAS_RECORD} ORDER BY id"
)

ITEMS = "SELECT url, handler, data FROM items ORDER BY id"
FETCHED_BETWEEN = f"SELECT min(fetched_at), max(fetched_at) FROM urls WHERE {HAS_RECORD}"
COUNTERS = "SELECT name, value FROM counters ORDER BY name"
PROXIES = f"SELECT proxy, {', '.join(PROXY_FIGURES)} FROM proxies ORDER BY proxy"
COUNT_ITEMS = "SELECT count(*) FROM items"
# Records (or this round's, by `state`) grouped by an expression, most first.
GROUPED = (
    "SELECT {expression} AS key, count(*) AS n FROM urls WHERE {which}"
    " GROUP BY key ORDER BY n DESC, key"
)
THIS_ROUND = f"state = {DONE}"
