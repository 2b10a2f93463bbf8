"""The SVG charts alone: scales, bar lengths, escaped labels."""

from __future__ import annotations

import re

import pytest

from crawler.svg_charts import Bar, bar_chart, column_chart, nice_ceiling


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (24, 25), (2494, 2500), (100, 100)],
)
def test_the_scale_tops_at_a_round_value_at_or_above_the_highest(
    value: float, ceiling: float
) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_bars_are_as_long_as_their_values_and_labels_are_escaped() -> None:
    svg = bar_chart([Bar("<a>", 10), Bar("b", 5), Bar("c", 0)], title="x & y")

    widths = [float(width) for width in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] == 0
    assert "&lt;a&gt;" in svg
    assert "<title>x &amp; y</title>" in svg


def test_columns_are_as_tall_as_their_values() -> None:
    svg = column_chart([Bar("0", 4), Bar("1", 8)], title="depths")

    heights = [float(height) for height in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert re.findall(r'class="value"[^>]*>([\d,]+)<', svg) == ["4", "8"]
