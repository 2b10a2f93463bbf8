"""Export writers: JSON Lines and CSV, one record per URL, fed from a `Storage`."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Literal, TextIO

from crawler.models import RECORD_FIELDS, PageRecord

ExportFormat = Literal["jsonl", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv")


async def write_records(
    records: AsyncGenerator[PageRecord, None], output: TextIO, export_format: ExportFormat
) -> int:
    """Write every record to `output`; returns how many were written."""
    async with contextlib.aclosing(records):
        if export_format == "csv":
            return await _write_csv(records, output)
        return await _write_jsonl(records, output)


async def _write_jsonl(records: AsyncIterator[PageRecord], output: TextIO) -> int:
    count = 0
    async for record in records:
        output.write(json.dumps(record.as_dict(), ensure_ascii=False))
        output.write("\n")
        count += 1
    return count


async def _write_csv(records: AsyncIterator[PageRecord], output: TextIO) -> int:
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(RECORD_FIELDS)
    count = 0
    async for record in records:
        writer.writerow("" if value is None else value for value in record.as_dict().values())
        count += 1
    return count
