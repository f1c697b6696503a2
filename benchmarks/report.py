"""Sizes of a benchmark run, one row of the result table, and the table itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does. ``FULL`` is what the targets are stated for."""

    name: str
    throughput: int = 10_000  # deliveries (a quarter of that many posts to four networks)
    fanout_delay: float = 0.3  # seconds each fake waits before answering
    fanout_runs: int = 3
    punctual: int = 1_000  # deliveries
    punctual_spread: float = 60.0  # seconds over which they fall due
    punctual_lead: float = 8.0  # seconds between starting the daemon and the first due time
    rate: int = 20  # requests per second the rate-limited fake allows
    rate_messages: int = 200
    idle_queued: int = 100_000
    idle_window: float = 60.0
    scale: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    enqueue: int = 1_000  # posts added through Store.add_post per measurement
    metrics_deliveries: int = 1_000  # published deliveries in one snapshot round
    report_deliveries: int = 10_000  # deliveries in the month of the report
    profiled: int = 1_000  # deliveries published again under cProfile for the top five costs
    multi: int = 4_000  # deliveries published by 1, 2 and 4 daemons on PostgreSQL
    history: tuple[int, ...] = (10_000, 100_000, 1_000_000)  # published rows under the idle daemon
    flags: str = ""  # the command-line flags that select these sizes


FULL = Sizes("full")
QUICK = Sizes(
    "quick",
    throughput=800,
    punctual=200,
    punctual_spread=15.0,
    rate_messages=60,
    idle_queued=10_000,
    idle_window=15.0,
    scale=(10_000, 100_000),
    enqueue=200,
    report_deliveries=2_000,
    profiled=400,
    multi=800,
    history=(10_000, 100_000),
    flags=" --quick",
)
#: for the smoke test only: every code path, a few seconds, figures meaningless
TINY = Sizes(
    "tiny",
    throughput=40,
    fanout_runs=1,
    punctual=20,
    punctual_spread=0.5,
    punctual_lead=1.5,  # the daemon is up in ~0.7 s; a later start only makes the lag larger, never negative
    rate=10,  # 12 messages still exceed one second's allowance: the baseline is refused, then passes again
    rate_messages=12,
    idle_queued=1_000,
    idle_window=0.25,  # a figure of 0 CPU (no clock tick in the window) is still a figure
    scale=(1_000, 3_000),
    enqueue=20,
    metrics_deliveries=40,
    report_deliveries=200,
    profiled=40,
    multi=40,
    history=(1_000, 3_000),
    flags=" --tiny",
)
PRESETS = {s.name: s for s in (FULL, QUICK, TINY)}


@dataclass
class Row:
    """One figure: the service's value, the baseline's, and the target it is held against."""

    figure: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    command: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline):
            return None
        return self.value / self.baseline


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(rows: Sequence[Row], markdown: bool = False) -> str:
    """The result table: figure, service, baseline, service ÷ baseline, target, met, command."""
    headers = ["Figure", "publisher", "baseline (cron)", "÷ baseline", "target", "met", "command"]
    lines = [
        [
            f"{r.figure} ({r.unit})",
            fmt(r.value),
            fmt(r.baseline),
            fmt(r.ratio),
            r.target or "—",
            {True: "yes", False: "NO", None: "—"}[r.met],
            f"`{r.command}`" if markdown else r.command,
        ]
        for r in rows
    ]
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in lines]
    return "\n".join(out)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
