"""The benchmark runs end to end at tiny sizes and reports every figure (never a speed assertion).

Each scenario already refuses to report when the pipeline lost work (a delivery that never reached its
fake, a rate-limited message never accepted), so a green run also means nothing was dropped.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.__main__ import SCENARIOS, run
from benchmarks.report import TINY, table

#: several daemons on PostgreSQL start seven daemon processes per scenario (over a minute even at tiny
#: sizes): run by hand, ``python -m benchmarks --tiny --only daemons pace``
SLOW = ("daemons", "pace")


def test_tiny_run_reports_every_figure_of_every_scenario(tmp_path: Path) -> None:
    rows, plans = run(TINY, [s for s in SCENARIOS if s not in SLOW], tmp_path, lambda message: None)
    figures = [r.figure for r in rows]
    expected_prefixes = [
        "Throughput",
        "CPU per 1,000 deliveries",
        "Fakes' CPU per 1,000 deliveries",
        "Fan-out",
        "Lag due → request at the network, p50",
        "Lag, p99",
        "Lag, max",
        "Rate-limited network",
        "Refused requests",
        "Idle CPU",
        "Resident memory",
        "Snapshot round, requests",
        "Snapshot round, time",
        "Report for a month",
    ]
    for prefix in expected_prefixes:
        assert any(f.startswith(prefix) for f in figures), f"missing figure {prefix!r} in {figures}"
    for size in TINY.scale:
        for prefix in ("Enqueue with", "claim_due, nothing due,", "next_due_at,"):
            assert f"{prefix} {size:,} queued" in " | ".join(figures)
    for size in TINY.history:
        assert f"Idle CPU, {size:,} published" in figures
    assert any(f.startswith("Idle CPU, largest ÷ smallest history") for f in figures)
    assert len(rows) == len(expected_prefixes) + 3 * len(TINY.scale) + len(TINY.history) + 1
    for row in rows:
        assert math.isfinite(row.value) or row.figure.startswith("Idle CPU, largest"), row
        if row.figure.startswith("Report for a month") or row.command.endswith("history --tiny"):
            continue  # no cron-style counterpart: the figure is reported alone
        assert row.baseline is not None and math.isfinite(row.baseline), row
    throughput = next(r for r in rows if r.figure.startswith("Throughput"))
    assert "top five costs" in throughput.notes[0] and throughput.notes[0].count("%") == 5
    # The daemon never publishes before the due time, so no lag is negative.
    lags = [r for r in rows if r.figure.startswith("Lag")]
    assert all(r.value >= 0 for r in lags)
    # The plans show the due-deliveries queries and how SQLite runs them.
    assert any("ix_deliveries_state_next" in line for line in plans)
    text = table(rows)
    assert all(r.figure in text for r in rows)
