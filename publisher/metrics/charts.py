"""Bar charts for the report, drawn by matplotlib as inline SVG (the optional ``report`` extra).

Only matplotlib's object interface is used (``Figure``, no ``pyplot``): no global figure state, so the
daemon can render a report in a worker thread. Each bar carries an id ``bar-CHART-N`` so a browser check
can count what was drawn. Text stays text (``svg.fonttype = none``): the SVG is small, searchable and
prints sharply; ``svg.hashsalt`` keeps the clip-path ids of one page's charts apart and stable.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import re
from collections.abc import Sequence

# matplotlib logs at INFO when it builds its font cache; the service's log is not the place for that.
logging.getLogger("matplotlib").setLevel(logging.WARNING)

#: One colour per series (this month, the month before / with, without): readable in grey print too.
COLOURS = ("#1f5fa8", "#a9c4e4")


def available() -> bool:
    """True when matplotlib is installed (the ``report`` extra: docs/install.md, step 2)."""
    return importlib.util.find_spec("matplotlib") is not None


def bar_chart(
    name: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
) -> str:
    """Horizontal bars, one group per label and one bar per series; returns an ``<svg>`` element."""
    import matplotlib
    from matplotlib.figure import Figure

    count = len(labels)
    height = 0.9 + 0.32 * count * max(1, len(series))
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": f"publisher-{name}", "font.size": 9, "axes.titlesize": 10}
    ):
        fig = Figure(figsize=(7.0, min(height, 9.0)), layout="constrained")
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(series))
        n = 0
        for k, (label, values) in enumerate(series):
            positions = [i + (k - (len(series) - 1) / 2) * width for i in range(count)]
            bars = ax.barh(positions, values, height=width, label=label, color=COLOURS[k % len(COLOURS)])
            for bar in bars:
                bar.set_gid(f"bar-{name}-{n}")
                n += 1
            ax.bar_label(bars, labels=[_short(v) for v in values], padding=2, fontsize=8)
        ax.set_yticks(range(count), labels=[_cut(label) for label in labels])
        ax.invert_yaxis()
        ax.set_title(title, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.margins(x=0.15)
        if len(series) > 1:
            fig.legend(loc="outside lower center", ncols=len(series), frameon=False)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    # Inline in HTML: drop the XML prolog and doctype, keep the <svg> element.
    return svg[svg.index("<svg") :].strip()


def _short(value: float) -> str:
    return (
        f"{value:,.0f}".replace(",", "\u202f")
        if value >= 100 or float(value).is_integer()
        else f"{value:.1f}"
    )


def _cut(label: str, width: int = 28) -> str:
    label = re.sub(r"\s+", " ", label)
    return label if len(label) <= width else label[: width - 1] + "…"
