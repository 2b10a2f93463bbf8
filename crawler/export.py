"""Export writers: JSON Lines and CSV, of the records (one per URL) or of the parsers' items.

It reads any `Storage`'s records and items; it knows no backend.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Literal, TextIO

from crawler.models import RECORD_FIELDS, ItemRecord, PageRecord

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


ItemSource = Callable[[], AsyncGenerator[ItemRecord, None]]
SOURCE_FIELDS = ("_url", "_handler")


async def write_items(
    items: ItemSource, output: TextIO, export_format: ExportFormat, *, with_source: bool = False
) -> int:
    """Write every stored item to `output`, each as its parser made it; with `with_source`,
    the page's URL and the handler's name come first as `_url` and `_handler`. Returns how
    many were written. CSV columns are every key met, in order of appearance."""
    if export_format == "csv":
        return await _write_items_csv(items, output, with_source=with_source)
    count = 0
    async with contextlib.aclosing(items()) as stored:
        async for item in stored:
            if with_source:
                output.write(json.dumps(_with_source(item), ensure_ascii=False))
            else:
                output.write(item.data)
            output.write("\n")
            count += 1
    return count


async def _write_items_csv(items: ItemSource, output: TextIO, *, with_source: bool) -> int:
    columns: dict[str, None] = dict.fromkeys(SOURCE_FIELDS) if with_source else {}
    async with contextlib.aclosing(items()) as stored:
        async for item in stored:
            columns.update(dict.fromkeys(json.loads(item.data)))
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    async with contextlib.aclosing(items()) as stored:
        async for item in stored:
            data = _with_source(item) if with_source else json.loads(item.data)
            writer.writerow(_csv_cell(data.get(column)) for column in columns)
            count += 1
    return count


def _with_source(item: ItemRecord) -> dict[str, object]:
    """The item with its page's URL and handler's name first (the item's own keys win)."""
    return {"_url": item.url, "_handler": item.handler, **json.loads(item.data)}


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value
