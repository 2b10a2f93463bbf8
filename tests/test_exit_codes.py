"""Exit codes: how one crawl's ending, and a fleet's several endings, map onto one code."""

from __future__ import annotations

import signal

import pytest

from crawler.exit_codes import combined_exit_code, exit_code_for
from crawler.fleet import worker_arguments
from crawler.models import CrawlSummary


@pytest.mark.parametrize(
    ("summary", "code"),
    [
        (CrawlSummary("finished", 1, 0, 1.0), 0),
        (CrawlSummary("stalled", 1, 0, 1.0), 3),
        (CrawlSummary("stopped", 1, 0, 1.0, signal.SIGINT), 130),
        (CrawlSummary("stopped", 1, 0, 1.0, signal.SIGTERM), 143),
    ],
)
def test_exit_codes_follow_how_the_crawl_ended(summary: CrawlSummary, code: int) -> None:
    assert exit_code_for(summary) == code


@pytest.mark.parametrize(
    ("codes", "received", "code"),
    [
        ([0, 0, 0], None, 0),
        ([0, 3], None, 3),
        ([143, 143], signal.SIGTERM, 143),
        ([0, 130], None, 130),
        ([0, -9], None, 1),  # a worker killed outright is a failure of the fleet
        ([2, 143], signal.SIGTERM, 2),
        ([1, 2, 143], None, 1),
        ([0, 0], signal.SIGINT, 130),
    ],
)
def test_a_fleets_exit_code_puts_failures_first(
    codes: list[int], received: int | None, code: int
) -> None:
    assert combined_exit_code(codes, received) == code


def test_workers_get_the_users_arguments_one_process_each_and_no_live_display() -> None:
    given = ["crawl", "-", "--db", "postgresql://u@h/d", "--processes", "4", "--deny", "x"]

    assert worker_arguments(given, "/tmp/seeds.txt") == [
        "crawl", "/tmp/seeds.txt", "--db", "postgresql://u@h/d", "--processes", "4",
        "--deny", "x", "--processes", "1", "--no-progress",
    ]  # fmt: skip
    assert worker_arguments(["seeds.txt", "--processes=2"], "seeds.txt")[-3:] == [
        "--processes",
        "1",
        "--no-progress",
    ]
