"""The round-table commands: ``publisher report`` (HTML + CSV for a month) and ``publisher metrics``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.cli.format import FAILURE, OK, local, one_line, parse_when, table
from publisher.cli.language import add_command, whole_number
from publisher.cli.operators import open_store
from publisher.i18n import _
from publisher.models import FIGURES

if TYPE_CHECKING:  # loaded where used: `publisher --help` starts without SQLAlchemy and pydantic
    from publisher.settings import Settings
    from publisher.store import MetricsRow


def language(settings: Settings) -> str:
    """The editors' language: ``PUBLISHER_LANGUAGE`` where the settings have it, Russian otherwise."""
    return str(getattr(settings, "language", None) or "ru")


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.metrics.report import parse_month, write_report

    month = parse_month(args.month, settings.zone)
    html_path, csv_path = write_report(
        open_store(settings),
        month,
        Path(args.out),
        zone=settings.zone,
        language=args.language or language(settings),
        now=datetime.now(UTC),
    )
    print(html_path)
    print(csv_path)
    return OK


def metrics_json(r: MetricsRow) -> dict[str, Any]:
    """One delivery's current figures (``None``: the network does not give that figure)."""
    s = r.snapshot
    return {
        "delivery": r.delivery_id,
        "post": r.post_id,
        "title": r.facts.title,
        "rubric": r.facts.rubric,
        "author": r.facts.author,
        "mentions": list(r.facts.mentions),
        "target": r.target,
        "url": r.url,
        "remote_id": r.remote_id,
        "published_at": r.published_at.isoformat(),
        **{name: getattr(s, name) if s else None for name in FIGURES},
        "taken_at": s.taken_at.isoformat() if s else None,
        "available": s.available if s else None,
        "reason": "dry run" if r.dry_run else (s.reason if s else "not collected yet"),
        "snapshots": r.snapshot_count,
    }


def cmd_collect(args: argparse.Namespace, settings: Settings) -> int:
    """Snapshots now: the due ones, or (``--all``) one for every delivery published in the last 30 days."""
    from publisher.adapters.pool import AdapterPool
    from publisher.metrics.collect import Collector

    collector = Collector(
        open_store(settings), settings, AdapterPool(settings).get, yield_to_publishing=False
    )
    stats = collector.run(everything=args.all)
    print(f"{stats.taken} snapshots taken ({stats.unavailable} without figures) in {stats.calls} calls")
    for target, why in sorted(stats.skipped.items()):
        print(f"  {target}: skipped, {why}")
    return OK if not stats.skipped or stats.taken else FAILURE


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "metrics_command", None) == "collect":
        return cmd_collect(args, settings)
    store = open_store(settings)
    since = parse_when(args.since, settings, datetime.now(UTC)) if args.since else None
    rows = store.metrics_rows(published_from=since, target=args.target, post_id=args.post)
    if args.json:
        for r in rows:
            print(json.dumps(metrics_json(r), ensure_ascii=False))
        return OK
    if args.csv:
        from publisher.metrics.report import csv_text

        sys.stdout.write(csv_text(rows, settings.zone))
        return OK
    if not rows:
        print("no published deliveries")
        return OK
    lines = []
    for r in rows:
        s = r.snapshot
        figures = [getattr(s, f) if s else None for f in ("views", "likes", "reposts", "comments")]
        # A dry-run "publication" never gets figures: say so, as the CSV and the report do.
        why = (
            "dry run"
            if r.dry_run
            else ("" if s and s.available and not s.reason else (s.reason if s else "not collected yet"))
        )
        lines.append(
            (
                r.delivery_id,
                r.target,
                local(settings, r.published_at),
                one_line(r.facts.title, 30),
                *figures,
                local(settings, s.taken_at) if s else "-",
                one_line(why, 40),
            )
        )
    headers = [
        "DELIVERY",
        "TARGET",
        "PUBLISHED",
        "TITLE",
        "VIEWS",
        "LIKES",
        "REPOSTS",
        "COMMENTS",
        "TAKEN",
        "NOTE",
    ]
    print(table(lines, headers))
    return OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = add_command(sub, "report", _("the month's round-table report: report-YYYY-MM.html and .csv"))
    rp.add_argument("--month", required=True, metavar="YYYY-MM", help=_("a calendar month in local time"))
    rp.add_argument("--out", default=".", metavar="DIR", help=_("where to write the files (default: here)"))
    rp.add_argument(
        "--language", choices=["ru", "en"], help=_("the report's language (instead of PUBLISHER_LANGUAGE)")
    )
    rp.set_defaults(func=cmd_report)

    mt = add_command(
        sub, "metrics", _("current figures of published posts; 'metrics collect' takes them now")
    )
    mt.add_argument("--post", type=whole_number, metavar="ID", help=_("only this post (its number)"))
    mt.add_argument(
        "--target",
        metavar="T",
        help=_("vk, x, facebook, telegram or NET:ACCOUNT (a named account of a network)"),
    )
    mt.add_argument("--since", metavar="WHEN", help=_("published since: 2h, 3d, today or a local date/time"))
    shape = mt.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    shape.add_argument("--csv", action="store_true", help=_("CSV, one row per delivery"))
    mt.set_defaults(func=cmd_metrics)
    mt_sub = mt.add_subparsers(dest="metrics_command", metavar="collect")
    co = add_command(mt_sub, "collect", _("take the figures now (those that are due)"))
    co.add_argument(
        "--all", action="store_true", help=_("take them now for every post published in the last 30 days")
    )
