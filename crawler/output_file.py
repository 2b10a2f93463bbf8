"""Writing a file whole or not at all: into a temporary file beside it, then renamed over it,
with the mode a new file would get (or the one of the file it replaces)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from crawler.errors import UsageError


@contextlib.contextmanager
def whole_file(output: Path) -> Iterator[BinaryIO]:
    """A binary file to write `output` through: renamed over `output` when the block ends,
    removed if it raises. Raises `UsageError` (naming `output`) if it cannot be written."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{output.name}.", dir=output.parent if str(output.parent) else "."
        )
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
        os.chmod(temporary, mode_for(output))
        os.replace(temporary, output)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        raise


def write_whole(output: Path, data: bytes) -> None:
    """Write `data` to `output` (see `whole_file`)."""
    with whole_file(output) as file:
        file.write(data)


def mode_for(output: Path) -> int:
    """The file's mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return stat.S_IMODE(output.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
