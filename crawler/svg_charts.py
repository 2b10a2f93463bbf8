"""Charts as inline SVG drawn from numbers alone: horizontal bars, columns, a rate over time.

Plain strings with every label escaped: no script, and nothing fetched from anywhere. The page
that holds them styles them through the classes `label`, `value`, `axis` and `grid`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

BLUE = "#4c78a8"
CHAR_WIDTH_PX = 7.2  # of the 12 px monospace labels, to size their column
MAX_LABEL_CHARS = 48


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: what it counts, how many, its colour."""

    label: str
    value: int
    color: str = BLUE


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 720) -> str:
    """Horizontal bars, one a row: the label, a bar as long as its value, the value."""
    row_px = 22
    label_px = _text_px(max((len(_clipped(bar.label)) for bar in bars), default=1)) + 10
    value_px = _text_px(max((len(f"{bar.value:,}") for bar in bars), default=1)) + 10
    room = max(width - label_px - value_px, 40)
    most = max((bar.value for bar in bars), default=0) or 1
    parts = [_open(title, width, row_px * len(bars))]
    for row, bar in enumerate(bars):
        y = row * row_px
        length = room * bar.value / most
        parts.append(
            f'<text class="label" x="{label_px - 10}" y="{y + 15}" text-anchor="end">'
            f"{escape(_clipped(bar.label))}</text>"
            f'<rect x="{label_px}" y="{y + 4}" width="{length:.1f}" height="14"'
            f' fill="{bar.color}"/>'
            f'<text class="value" x="{label_px + length + 6:.1f}" y="{y + 15}">'
            f"{bar.value:,}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(bars: Sequence[Bar], *, title: str, width: int = 720, height: int = 200) -> str:
    """Vertical columns side by side, each value above its column and its label below (a
    label every few columns when they are many)."""
    top_px, bottom_px = 18, 22
    room = height - top_px - bottom_px
    most = max((bar.value for bar in bars), default=0) or 1
    step = min(width / max(len(bars), 1), 48)
    every = math.ceil(len(bars) / 30) or 1
    parts = [_open(title, width, height)]
    for index, bar in enumerate(bars):
        tall = room * bar.value / most
        x, middle = index * step, index * step + step / 2
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{top_px + room - tall:.1f}"'
            f' width="{step * 0.8:.1f}" height="{tall:.1f}" fill="{bar.color}"/>'
        )
        if index % every == 0:
            parts.append(
                f'<text class="value" x="{middle:.1f}" y="{top_px + room - tall - 4:.1f}"'
                f' text-anchor="middle">{bar.value:,}</text>'
                f'<text class="label" x="{middle:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def time_chart(
    values: Sequence[float],
    *,
    title: str,
    times: tuple[str, str],
    width: int = 720,
    height: int = 220,
) -> str:
    """A rate over time as columns of equal width from `times[0]` to `times[1]` (labels under
    the axis), with grid lines at nice values."""
    left_px, top_px, bottom_px = 52, 10, 24
    room_x, room_y = width - left_px - 6, height - top_px - bottom_px
    ceiling = nice_ceiling(max(values, default=0.0))
    step = room_x / max(len(values), 1)
    parts = [_open(title, width, height)]
    for fraction in (0.0, 0.5, 1.0):
        y = top_px + room_y * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{left_px}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left_px - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(ceiling * fraction)}</text>"
        )
    for index, value in enumerate(values):
        tall = room_y * value / ceiling
        parts.append(
            f'<rect x="{left_px + index * step:.2f}" y="{top_px + room_y - tall:.1f}"'
            f' width="{max(step - 1, 0.5):.2f}" height="{tall:.1f}" fill="{BLUE}"/>'
        )
    parts.append(
        f'<text class="axis" x="{left_px}" y="{height - 6}">{escape(times[0])}</text>'
        f'<text class="axis" x="{width - 6}" y="{height - 6}" text-anchor="end">'
        f"{escape(times[1])}</text></svg>"
    )
    return "".join(parts)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _clipped(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _text_px(characters: int) -> int:
    return math.ceil(characters * CHAR_WIDTH_PX)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) or value >= 100 else f"{value:,.1f}"
