"""Charts as SVG drawn on the server: readable without JavaScript, with no third-party request.

Written here rather than taken from a library: the charting libraries on PyPI that emit SVG (pygal,
leather) style their output with inline ``style`` attributes or ``<style>`` elements, which the site's
Content-Security-Policy refuses, and some load scripts from a CDN. A chart needs only rectangles and
labels. Colours come from the site's stylesheet through class names.

Each bar carries ``data-label`` and ``data-value`` (the figure in the chart's CSV download) and a
``<title>`` that browsers show on hover and screen readers read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    from candor.analytics.popularity import DayCount

WIDTH = 720
ROW_HEIGHT = 22
LABEL_WIDTH = 180


def _number(value: int | float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def columns(
    points: Sequence[tuple[str, int | float | None]], *, title: str, description: str, height: int = 200
) -> SafeString:
    """A column per period (left to right). ``None`` is a withheld figure, drawn as a short grey mark."""
    known = [value for _, value in points if value is not None]
    top = max(known, default=0) or 1
    count = max(len(points), 1)
    plot_top, plot_bottom, left = 16, height - 28, 72  # room for a seven-digit top value
    step = (WIDTH - left - 8) / count
    bar = max(step * 0.8, 1)
    parts = []
    for index, (label, value) in enumerate(points):
        x = left + index * step + (step - bar) / 2
        if value is None:
            parts.append(
                format_html(
                    '<rect class="chart-withheld" x="{}" y="{}" width="{}" height="3" data-label="{}" '
                    'data-value=""><title>{}: withheld (fewer than the threshold)</title></rect>',
                    f"{x:.1f}",
                    plot_bottom - 3,
                    f"{bar:.1f}",
                    label,
                    label,
                )
            )
            continue
        h = (plot_bottom - plot_top) * value / top
        parts.append(
            format_html(
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" data-label="{}" '
                'data-value="{}"><title>{}: {}</title></rect>',
                f"{x:.1f}",
                f"{plot_bottom - h:.1f}",
                f"{bar:.1f}",
                f"{h:.1f}",
                label,
                value,
                label,
                _number(value),
            )
        )
    body = format_html(
        '<text class="chart-axis" x="{lx}" y="{ty}" text-anchor="end">{top}</text>'
        '<text class="chart-axis" x="{lx}" y="{by}" text-anchor="end">0</text>'
        '<line class="chart-rule" x1="{left}" y1="{by}" x2="{w}" y2="{by}"/>{bars}{ticks}',
        w=WIDTH,
        lx=left - 6,
        ty=plot_top + 4,
        by=plot_bottom,
        top=_number(top) if known else "",
        left=left,
        bars=SafeString("".join(parts)),
        ticks=_period_ticks(points, left, step, plot_bottom),
    )
    return _svg(height, title, description, body)


def _period_ticks(
    points: Sequence[tuple[str, int | float | None]], left: float, step: float, bottom: int
) -> SafeString:
    if not points:
        return SafeString("")
    every = max(1, len(points) // 6)
    return format_html_join(
        "",
        '<text class="chart-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{left + i * step + step / 2:.1f}", bottom + 18, label)
            for i, (label, _) in enumerate(points)
            if i % every == 0
        ),
    )


def bars(rows: Sequence[tuple[str, int | float]], *, title: str, description: str) -> SafeString:
    """Horizontal bars, one labelled row each, longest first as given."""
    top = max((value for _, value in rows), default=0) or 1
    height = ROW_HEIGHT * max(len(rows), 1) + 8
    span = WIDTH - LABEL_WIDTH - 90
    items = format_html_join(
        "",
        '<g><text class="chart-label" x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
        '<rect class="chart-bar" x="{x}" y="{y}" width="{w}" height="{bh}" data-label="{label}" '
        'data-value="{value}"><title>{label}: {shown}</title></rect>'
        '<text class="chart-value" x="{vx}" y="{ty}">{shown}</text></g>',
        (
            {
                "lx": LABEL_WIDTH - 8,
                "ty": i * ROW_HEIGHT + 19,
                "label": label,
                "x": LABEL_WIDTH,
                "y": i * ROW_HEIGHT + 6,
                "w": f"{max(span * value / top, 1):.1f}",
                "bh": ROW_HEIGHT - 6,
                "value": value,
                "shown": _number(value),
                "vx": f"{LABEL_WIDTH + max(span * value / top, 1) + 6:.1f}",
            }
            for i, (label, value) in enumerate(rows)
        ),
    )
    return _svg(height, title, description, items)


def _svg(height: int, title: str, description: str, body: SafeString) -> SafeString:
    """The chart's frame: its size, and the title and description that name it to screen readers."""
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t" '
        'aria-describedby="{id}-d" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>{body}</svg>',
        w=WIDTH,
        h=height,
        id=_slug(title),
        title=title,
        desc=description,
        body=body,
    )


def _slug(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())[:40]


def per_day(series: Sequence[DayCount]) -> tuple[SafeString, SafeString]:
    """A model's two column charts for its owner, views and downloads per day (as in its stats CSV)."""
    days = len(series)
    return (
        columns(
            [(d.day.isoformat(), d.views) for d in series],
            title=f"Views per day, last {days} days",
            description="Page and API reads of this model per UTC day, while it was public.",
        ),
        columns(
            [(d.day.isoformat(), d.downloads) for d in series],
            title=f"Downloads per day, last {days} days",
            description="File downloads of this model per UTC day, while it was public.",
        ),
    )
