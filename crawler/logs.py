"""Logging set-up: readable text on a terminal, or one JSON object per line for a scheduler.

The only place that configures log handlers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from crawler.config import LogFormat, LogLevel

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}` on one line; exceptions as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is at each record: while the live progress display runs it
    is rich's proxy, which prints each line above the display instead of onto it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(
    log_format: LogFormat, level: LogLevel, *, stream: TextIO | None = None
) -> None:
    """Send the `crawler` logger's records to stderr (or `stream`) in the chosen format."""
    handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("crawler")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
