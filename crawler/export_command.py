"""The `export` command's work: what to write (records, items or a WARC file) from which
database to which file. A file is written beside its target and renamed, so a failed export
never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TextIO, cast

from crawler.errors import UsageError
from crawler.export import EXPORT_FORMATS, write_items, write_records
from crawler.store import Storage, open_storage
from crawler.urls import mask_credentials
from crawler.warc import write_warc

OutputFormat = Literal["jsonl", "csv", "warc"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = (*EXPORT_FORMATS, "warc")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What `export` writes: records or items (JSON Lines, CSV), or the kept exchanges (WARC)."""

    output_format: OutputFormat
    items: bool = False
    with_source: bool = False

    def __post_init__(self) -> None:
        if self.output_format == "warc" and self.items:
            raise UsageError("WARC holds pages, not items: --items cannot be written as WARC")

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
            async with contextlib.aclosing(storage.iter_captures()) as captures:
                counts = await write_warc(captures, cast(BinaryIO, output), name)
            if not counts.responses:
                raise UsageError(
                    f"{source} kept no pages to write as WARC:"
                    " crawl with --store-bodies html or all"
                )
            return counts.responses + counts.revisits
        text = cast(TextIO, output)
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
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{output.name}.", dir=output.parent if str(output.parent) else "."
        )
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    try:
        if what.binary:
            with os.fdopen(descriptor, "wb") as binary:
                await what.write(storage, binary, name=output.name, source=source)
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as text:
                await what.write(storage, text, name=output.name, source=source)
        os.chmod(temporary, _mode_for(output))
        os.replace(temporary, output)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        raise


def _mode_for(output: Path) -> int:
    """The file's mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return stat.S_IMODE(output.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
