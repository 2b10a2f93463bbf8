"""The `export` command's work: what to write (records, items or a WARC file) from which
database to which file. A file is written beside its target and renamed, so a failed export
never leaves half a file."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TextIO, cast

from crawler.changes import changes_since, write_changes
from crawler.errors import UsageError
from crawler.export import EXPORT_FORMATS, write_items, write_records
from crawler.output_file import whole_file
from crawler.store import Storage, open_storage
from crawler.urls import mask_credentials

OutputFormat = Literal["jsonl", "csv", "warc"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = (*EXPORT_FORMATS, "warc")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What `export` writes: records or items (JSON Lines, CSV), or the kept exchanges (WARC)."""

    output_format: OutputFormat
    items: bool = False
    with_source: bool = False
    changes_since: str | None = None
    """A `fetched_at` time: write what appeared, changed or disappeared since, not records."""

    def __post_init__(self) -> None:
        if self.output_format == "warc" and self.items:
            raise UsageError("WARC holds pages, not items: --items cannot be written as WARC")
        if self.changes_since is not None and (self.items or self.output_format == "warc"):
            raise UsageError("--changes-since writes JSON Lines or CSV of records, not items")

    @property
    def binary(self) -> bool:
        return self.output_format == "warc"

    async def write(
        self, storage: Storage, output: TextIO | BinaryIO, *, name: str, source: str
    ) -> int:
        """Write from `storage` (the database `source`) to `output` (binary for WARC, named
        `name`); returns how many were written. Raises `UsageError` for a WARC of a crawl
        that kept no pages."""
        if self.output_format == "warc":
            from crawler.warc import write_warc  # noqa: PLC0415 (warcio: not for every start-up)

            async with contextlib.aclosing(storage.iter_captures()) as captures:
                counts = await write_warc(captures, cast(BinaryIO, output), name)
            if not counts.responses:
                raise UsageError(
                    f"{source} kept no pages to write as WARC:"
                    " crawl with --store-bodies html or all"
                )
            return counts.responses + counts.revisits
        text = cast(TextIO, output)
        if self.changes_since is not None:
            history = storage.iter_history(self.changes_since)
            changes = changes_since(history, self.changes_since)
            return await write_changes(changes, text, self.output_format)
        if self.items:
            return await write_items(
                storage.iter_items, text, self.output_format, with_source=self.with_source
            )
        return await write_records(storage.iter_records(), text, self.output_format)


async def export(db: str, what: ExportRequest, output: Path | None) -> None:
    """Write what `what` asks for from the database `db` to `output` (default: standard
    output). Raises `UsageError` when the file cannot be written, `StorageError` when the
    database cannot be read."""
    storage = await open_storage(db, read_only=True)
    source = mask_credentials(db)
    try:
        if output is None:
            stream = sys.stdout.buffer if what.binary else sys.stdout
            await what.write(storage, stream, name="stdout", source=source)
        else:
            await _export_to_file(storage, what, output, source)
    finally:
        await storage.close()


async def _export_to_file(storage: Storage, what: ExportRequest, output: Path, source: str) -> None:
    with whole_file(output) as binary:
        if what.binary:
            await what.write(storage, binary, name=output.name, source=source)
            return
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        await what.write(storage, text, name=output.name, source=source)
        text.flush()
        text.detach()  # the binary file is closed by whole_file, not by the wrapper
