"""Writing a file whole or not at all: into a temporary file beside it, then renamed over it,
with the mode a new file would get (or the one of the file it replaces)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from crawler.errors import UsageError


def write_whole(output: Path, data: bytes) -> None:
    """Write `data` to `output`; raises `UsageError` (naming it) if it cannot be written, and
    then leaves nothing behind."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{output.name}.", dir=output.parent if str(output.parent) else "."
        )
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode_for(output))
        os.replace(temporary, output)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        raise


def mode_for(output: Path) -> int:
    """The file's mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return stat.S_IMODE(output.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
