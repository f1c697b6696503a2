"""``python -m benchmarks [--quick] [--only NAME ...] [--markdown]``: run and print the table."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.report import PRESETS, Row, Sizes, table

SCENARIOS = (
    "throughput",
    "fanout",
    "punctuality",
    "ratelimit",
    "idle",
    "history",
    "scale",
    "daemons",
    "pace",
    "metrics",
)


def machine() -> str:
    """nproc, CPU model and Python version, for the record."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.platform()}"


def run(
    sizes: Sizes, only: Sequence[str], work: Path, log: Callable[[str], None]
) -> tuple[list[Row], list[str]]:
    """Run the chosen scenarios at ``sizes`` in ``work``; returns the rows and the query plans."""
    from benchmarks import daemon_scenarios as ds
    from benchmarks import metrics as mt
    from benchmarks import multi
    from benchmarks import scenarios as sc
    from benchmarks.farm import Farm

    rows: list[Row] = []
    plans: list[str] = []
    # The punctuality baseline needs the per-delivery pace of the cron script; measured by throughput.
    pace: dict[str, float] = {"seconds_per_delivery": 0.004}
    with Farm() as farm:
        steps: dict[str, Callable[[], list[Row]]] = {
            "throughput": lambda: sc.throughput(farm, work, sizes, pace),
            "fanout": lambda: sc.fanout(farm, work, sizes),
            "punctuality": lambda: ds.punctuality(farm, work, sizes, pace["seconds_per_delivery"]),
            "ratelimit": lambda: ds.rate_limits(farm, work, sizes),
            "idle": lambda: ds.idle(farm, work, sizes),
            "history": lambda: ds.idle_history(farm, work, sizes),
            "daemons": lambda: multi.several_daemons(farm, work, sizes),
            "pace": lambda: multi.shared_pace(farm, work, sizes),
            "scale": lambda: sc.scale(work, sizes, plans),
            "metrics": lambda: mt.metrics(work, sizes),
        }
        for name in SCENARIOS:
            if name not in only:
                continue
            started = time.monotonic()
            log(f"[bench] {name} ...")
            rows += steps[name]()
            log(f"[bench] {name} done in {time.monotonic() - started:.1f} s")
    return rows, plans


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_const", const="quick", dest="size", help="smaller sizes (~2 min)"
    )
    size.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="smoke-test sizes")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--dir", type=Path, help="work directory (default: a new temporary one, removed)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="PostgreSQL server for the several-daemons scenarios (default: $PUBLISHER_BENCH_POSTGRES_URL, "
        "then $PUBLISHER_TEST_POSTGRES_URL); each run uses a fresh schema and drops it",
    )
    args = parser.parse_args(argv)
    sizes = PRESETS[args.size or "full"]
    if args.postgres:
        os.environ["PUBLISHER_BENCH_POSTGRES_URL"] = args.postgres

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        rows, plans = run(sizes, args.only, work, log)
        elapsed = time.monotonic() - started
    print(f"publisher benchmark, {sizes.name} sizes, {elapsed:.0f} s — {machine()}\n")
    print(table(rows, markdown=args.markdown))
    notes = [n for r in rows for n in r.notes]
    if notes:
        print("\nNotes:")
        print("\n".join(f"- {n}" for n in notes))
    if plans:
        print("\nQuery plans at the largest queue (EXPLAIN QUERY PLAN of the statements the store runs):")
        print("\n".join(plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
