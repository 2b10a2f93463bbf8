"""The exit codes a scheduler can trust, and how a crawl's ending maps onto them.

0 finished; 1 an unexpected failure (a bug); 2 bad usage, configuration or input; 3 stalled
(nothing stored for `stall_timeout`); 130 stopped by SIGINT; 143 stopped by SIGTERM; 141 the
reader of the output went away (`crawler export DB | head`), as for other Unix tools.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from crawler.models import CrawlSummary

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STALLED = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
DOCUMENTED = (EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STALLED, EXIT_SIGINT, EXIT_SIGTERM)


def exit_code_for(summary: CrawlSummary) -> int:
    """The exit code that tells a scheduler how the crawl ended."""
    if summary.signal is not None:
        return 128 + summary.signal
    if summary.reason == "stalled":
        return EXIT_STALLED
    return EXIT_OK


def combined_exit_code(codes: Sequence[int], received: int | None = None) -> int:
    """One exit code for several processes (negative: killed by that signal): a failure of any
    wins, then bad usage, then the signal the group `received`, then any process's signal
    ending, then a stall; 0 only if every process finished."""
    found = [128 - code if code < 0 else code for code in codes]
    if EXIT_FAILURE in found or any(code not in DOCUMENTED for code in found):
        return EXIT_FAILURE
    if EXIT_USAGE in found:
        return EXIT_USAGE
    if received is not None:
        return 128 + received
    for code in (EXIT_SIGTERM, EXIT_SIGINT, EXIT_STALLED):
        if code in found:
            return code
    return EXIT_OK
