"""The crawl's C allocator setting: freed page bodies stay in the heap instead of going back to
the kernel (and being faulted in again) at once."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    from crawler.allocator import keep_free_heap
    keep_free_heap()
bodies = [bytes(60_000) for _ in range(50)]  # 3 MB of page-sized bodies, then freed
del bodies
print(libc.mallinfo2().keepcost)  # the free memory at the top of the heap, not given back
"""


def _free_heap_kept(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt and mallinfo2 are glibc's")
def test_freed_bodies_stay_in_the_heap_after_keep_free_heap() -> None:
    default, tuned = _free_heap_kept("default"), _free_heap_kept("tuned")

    assert default < 512 * 1024  # glibc's own threshold gave the rest back
    assert tuned > 2 * 1024 * 1024
