"""The content plan's commands: ``plan`` (terminal, ``--json``, ``--ics``), ``rubric list``, ``dates import``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.cli.format import OK, USAGE, local, one_line, table
from publisher.cli.language import add_command, whole_number
from publisher.errors import InputError
from publisher.i18n import N_, _
from publisher.plan.build import Plan, plan_json
from publisher.plan.cadence import weekday_name

if TYPE_CHECKING:  # loaded by the command that needs it: `publisher --help` starts without pydantic
    from publisher.settings import Settings

_STATUS = {"empty": N_("EMPTY"), "filled": N_("has a post"), "paused": N_("paused")}


def _source(settings: Settings) -> Any:
    from publisher.cli.operators import open_store
    from publisher.compose.reloadable import DirectoryHolder
    from publisher.plan.service import PlanSource

    return PlanSource(open_store(settings), settings, DirectoryHolder(settings.directory_file))


def _first_day(value: str | None, today: date) -> date:
    if value is None or value == "today":
        return today
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError("--from", "", f"{value!r} is not a date", "write e.g. --from 2026-12-01") from None


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    source = _source(settings)
    now = datetime.now(UTC)
    today = source.today(now)
    if args.weeks is not None and args.weeks < 1:
        raise InputError("--weeks", "", "must be at least 1", "write e.g. --weeks 2")
    if args.ics:
        from publisher.plan.ics import plan_calendar

        if args.start is None and args.weeks is None:
            plan = source.calendar_plan(now)
        else:
            first = _first_day(args.start, today)
            plan = source.plan(first, first + timedelta(weeks=args.weeks or 2, days=-1))
        sys.stdout.buffer.write(plan_calendar(plan, now))
        sys.stdout.flush()
        return OK
    first = _first_day(args.start, today)
    plan = source.plan(first, first + timedelta(weeks=args.weeks or 2, days=-1))
    if args.json:
        for item in plan_json(plan):
            print(json.dumps(item, ensure_ascii=False))
        return OK
    print(render_plan(plan))
    return OK


def render_plan(plan: Plan) -> str:
    """The plan for a terminal: one block per day that has anything, empty slots and uncovered dates marked."""
    lines = [
        _("Content plan {first} — {last} ({zone})").format(
            first=f"{plan.first:%d.%m.%Y}", last=f"{plan.last:%d.%m.%Y}", zone=plan.zone.key
        )
    ]
    for day, posts, slots, dates in plan.days():
        if not (posts or slots or dates):
            continue
        lines.append("")
        lines.append(f"{weekday_name(day.weekday())} {day:%d.%m.%Y}")
        for p in posts:
            rubric = f"  #{p.post.rubric}" if p.post.rubric else ""
            targets = ", ".join(d.target for d in p.post.deliveries)
            title = _("post {number}: {title}").format(number=p.post.id, title=one_line(p.post.title, 50))
            lines.append(f"  {p.at:%H:%M}  {title}{rubric}  [{p.post.approved_by}]  {targets}  {p.state}")
        for s in slots:
            at = f"{s.at:%H:%M}" if s.at else "     "
            owner = f" ({s.rubric.owner_mention})" if s.rubric.owner_mention else ""
            rubric = _("rubric #{rubric}").format(rubric=s.rubric.key)
            lines.append(f"  {at}  {_(_STATUS[s.status])}: {rubric}{owner}")
        for d in dates:
            status = _("has a post") if d.covered else _("NO POST")
            memorable = _("memorable date «{title}»").format(title=d.memorable.title)
            lines.append(f"         {memorable}: {status}")
    return "\n".join(lines)


def cmd_rubric_list(args: argparse.Namespace, settings: Settings) -> int:
    source = _source(settings)
    now = datetime.now(UTC)
    today = source.today(now)
    stats = source.store.rubric_stats(now)
    month_first = today.replace(day=1)
    month_last = (month_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    month = source.plan(month_first, month_last)
    upcoming = source.plan(today, today + timedelta(days=400))
    rows = []
    for rubric in source.directory().rubrics.values():
        key = rubric.key.casefold()
        found = next((v for k, v in stats.items() if k.lstrip("#").casefold() == key), None)
        expected = next((s for s in upcoming.slots if s.rubric.key == rubric.key), None)
        rows.append(
            {
                "rubric": rubric.key,
                "owner": rubric.owner,
                "telegram": rubric.owner_telegram,
                "cadence": rubric.cadence.as_dict() if rubric.cadence else None,
                "cadence_text": rubric.cadence.describe() if rubric.cadence else "",
                "slots": [f"{t:%H:%M}" for t in rubric.slots],
                "networks": list(rubric.networks),
                "paused": rubric.paused,
                "last_post": found.last.isoformat() if found and found.last else None,
                "next_post": found.next.isoformat() if found and found.next else None,
                "next_expected": expected.day.isoformat() if expected else None,
                "posts_this_month": sum(
                    1 for p in month.posts if (p.post.rubric or "").lstrip("#").casefold() == key
                ),
                "_last": found.last if found else None,
                "_next": found.next if found else None,
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps({k: v for k, v in row.items() if not k.startswith("_")}, ensure_ascii=False))
        return OK
    if not rows:
        print(_("the directory has no rubrics"))
        return OK
    headers = [
        _("rubric"),
        _("owner"),
        _("cadence"),
        _("last post"),
        _("next post"),
        _("this month"),
        _("paused"),
    ]
    print(
        table(
            [
                [
                    f"#{r['rubric']}",
                    one_line(r["owner"], 40),
                    r["cadence_text"] or "-",
                    local(settings, r["_last"]),
                    local(settings, r["_next"]),
                    r["posts_this_month"],
                    _("yes") if r["paused"] else "",
                ]
                for r in rows
            ],
            headers,
        )
    )
    return OK


def cmd_dates_import(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.compose.reloadable import DirectoryHolder
    from publisher.plan.dates import append_dates, dates_from_ics

    target = settings.dates_file
    if target is None:
        print(_("publisher: set PUBLISHER_DATES_FILE to the dates file to add to"), file=sys.stderr)
        return USAGE
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path.name, "", f"cannot be read ({exc.strerror})", "check the file name") from None
    found = dates_from_ics(data, path.name)
    added = append_dates(target, found, DirectoryHolder(settings.directory_file)().rubrics)
    print(
        _("{file}: {events} events, {added} new dates added to {target}").format(
            file=path.name, events=len(found), added=added, target=target
        )
    )
    return OK


def add_plan_commands(sub: Any) -> None:
    """Register ``plan``, ``rubric`` and ``dates`` on the main parser's subcommands."""
    pl = add_command(sub, "plan", _("the content plan: posts, rubric slots and memorable dates, day by day"))
    pl.add_argument(
        "--from", dest="start", metavar="DATE", help=_("first day (default today), e.g. 2026-12-01")
    )
    pl.add_argument("--weeks", type=whole_number, metavar="N", help=_("how many weeks (default 2)"))
    how = pl.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    how.add_argument(
        "--ics",
        action="store_true",
        help=_("an iCalendar file (default period: the last month and next 13 weeks)"),
    )
    pl.set_defaults(func=cmd_plan)

    rb = add_command(sub, "rubric", _("the rubrics of the directory"))
    rb_sub = rb.add_subparsers(dest="rubric_command", required=True, metavar="ACTION")
    rl = add_command(rb_sub, "list", _("each rubric: owner, cadence, last and next post, posts this month"))
    rl.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    rl.set_defaults(func=cmd_rubric_list)

    dt = add_command(sub, "dates", _("the memorable dates file"))
    dt_sub = dt.add_subparsers(dest="dates_command", required=True, metavar="ACTION")
    di = add_command(
        dt_sub, "import", _("add the events of an iCalendar (.ics) file to PUBLISHER_DATES_FILE")
    )
    di.add_argument("file", metavar="FILE.ics", help=_("the calendar file"))
    di.set_defaults(func=cmd_dates_import)
