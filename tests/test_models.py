"""The shared records' own behaviour: timestamps."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from crawler.models import utc_timestamp


def test_timestamps_are_what_datetime_writes_to_the_millisecond() -> None:
    rng = random.Random(7)
    moments = [0.0, 1_764_500_000.001, 1_764_500_000.9995, 1_764_500_000.9999996]
    moments += [rng.uniform(0, 4e9) for _ in range(5_000)]
    moments += [round(rng.uniform(1.7e9, 1.8e9), 3) for _ in range(5_000)]  # whole milliseconds
    for moment in moments:
        expected = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
        assert utc_timestamp(moment) == expected.replace("+00:00", "Z"), moment


def test_now_is_now() -> None:
    before = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    now = utc_timestamp()
    after = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert before <= now <= after
