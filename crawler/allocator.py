"""The C allocator tuned for a crawl: the command line's one process-wide setting.

glibc hands the top of its heap back to the kernel whenever more than 128 KiB of it is free.
A crawl frees a page body every few hundred microseconds, so that memory is taken back at
once and every page of it faulted in again: on the benchmark's site, four times the page
faults and 7% more CPU. Keeping up to TRIM_THRESHOLD of free heap costs under 1 MiB of
resident memory there.
"""

from __future__ import annotations

import sys

TRIM_THRESHOLD = 4 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # glibc's mallopt() parameter number


def keep_free_heap() -> None:
    """Ask glibc to keep up to TRIM_THRESHOLD bytes of free heap (elsewhere: nothing)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415 (only here: the one use of it)

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt: keep its defaults
        return
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
