"""The progress display's lines: what they say and that they fit 80 columns."""

from __future__ import annotations

import time

import pytest

from crawler.progress import CrawlProgress, RecentRate, status_lines, summary_lines


def huge() -> CrawlProgress:
    return CrawlProgress(
        started=time.monotonic() - 360_000,
        done=1_234_567_890,
        records=1_234_567_890,
        errors=1_234_567,
        unchanged=1_234_567,
        queued=1_234_567_890,
        in_flight=0,
        max_pages=2_000_000_000,
        hosts_in_delay=12_345,
        retry_due_at=time.time() + 60,
    )


def test_lines_fit_80_columns_even_with_huge_figures() -> None:
    progress = huge()
    lines = status_lines(progress, 123_456.7) + summary_lines(progress, "finished", 10**9, "c.db")

    assert max(len(line) for line in lines) <= 80
    assert "  of them  1,234,567 unchanged (304)" in lines
    assert lines[0] == (
        "1,234,567,890 pages (1,234,567 errors) · 123,457 pages/s · 100:00:00 elapsed"
    )
    assert lines[1].startswith("1,234,567,890 queued · 0 in flight · 61% of 2,000,000,000 · ETA ")
    assert lines[2].startswith("waiting: next retry due at ")
    assert lines[2].endswith("; 12,345 hosts waiting out their delay")


def test_nothing_is_waited_for_while_requests_are_in_flight() -> None:
    busy = CrawlProgress(in_flight=3, hosts_in_delay=2, retry_due_at=time.time() + 5)

    assert len(status_lines(busy, 1.0)) == 2


@pytest.mark.parametrize(("max_pages", "shown"), [(None, False), (100, True)])
def test_percentage_and_eta_only_with_max_pages(max_pages: int | None, shown: bool) -> None:
    progress = CrawlProgress(done=40, records=50, max_pages=max_pages)

    line = status_lines(progress, 5.0)[1]

    assert ("50% of 100 · ETA 0:00:10" in line) is shown


def test_the_rate_is_of_the_recent_past_not_the_whole_run() -> None:
    progress = CrawlProgress(started=time.monotonic() - 100, done=10_000)
    rate = RecentRate(window_s=0.2)
    assert rate(progress) == pytest.approx(100, rel=0.01)  # too early to say: the run's rate

    time.sleep(0.3)
    assert rate(progress) == 0.0  # nothing done lately: 0, not 10,000 / 100 s
