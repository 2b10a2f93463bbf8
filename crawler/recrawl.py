"""The start of a recrawl: records older than `recrawl_after` go back in the queue.

Each keeps its record until its new fetch is stored, and a refetch asks for the page only if
it changed (see `Validators`); a run killed midway leaves the rest queued for the next one.
"""

from __future__ import annotations

import logging
import time

from crawler.config import Config
from crawler.models import utc_timestamp
from crawler.store import Storage

log = logging.getLogger("crawler")


async def queue_recrawl(storage: Storage, config: Config) -> int:
    """Queue again the records fetched more than `recrawl_after` ago (none when it is off);
    returns how many."""
    if config.recrawl_after is None:
        return 0
    before = utc_timestamp(time.time() - config.recrawl_after)
    count = await storage.requeue_recorded(before)
    log.info(
        "recrawl: %d records fetched before %s queued again",
        count,
        before,
        extra={"requeued": count, "fetched_before": before},
    )
    return count
