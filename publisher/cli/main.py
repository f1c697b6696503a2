"""The editors' and operators' commands. Exit codes: 0 success, 1 failure, 2 usage or invalid input.

The parser, ``main`` and the editors' commands (run, enqueue, preview, migrate) live here; the operators'
commands are in ``publisher.cli.operators`` and the output helpers in ``publisher.cli.format``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher import __version__
from publisher.cli import metrics as metrics_commands
from publisher.cli.format import FAILURE, MAX_ID, MAX_LIMIT, OK, USAGE, SafeTerminal, check_number, local
from publisher.cli.operators import (
    cmd_cancel,
    cmd_check,
    cmd_log,
    cmd_pause,
    cmd_queue,
    cmd_resolve,
    cmd_resume,
    cmd_retry,
    cmd_show,
    cmd_status,
    open_store,
)
from publisher.cli.plan import add_plan_commands
from publisher.cli.posts import add_post_commands, in_words
from publisher.errors import ConfigurationError, InputError, PublisherError
from publisher.i18n import _, local_time
from publisher.models import DeliveryState
from publisher.ops.logsetup import configure_logging
from publisher.ops.safetext import printable
from publisher.settings import Settings, load_settings

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from publisher.intake.accept import Intake

# --- editors' commands ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.dispatch.daemon import run_daemon

    return run_daemon(settings, once=args.once, settings_file=args.settings, overrides=args.overrides)


def _intake(settings: Settings, with_store: bool) -> Intake:
    from publisher.compose.reloadable import DirectoryHolder
    from publisher.intake.accept import Intake

    return Intake(
        open_store(settings) if with_store else None, settings, DirectoryHolder(settings.directory_file)
    )


def cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    """Queue post files directly (the same rules as the inbox); prints each file's receipt."""
    from publisher.intake.receipt import receipt_text

    intake = _intake(settings, with_store=True)
    store = intake.store
    assert store is not None  # with_store
    status = OK
    for name in args.files:
        path = Path(name)
        try:
            done = intake.submit(path)
        except InputError as exc:
            print(_("rejected: {reason}").format(reason=exc), file=sys.stderr)
            status = USAGE
            continue
        post_id, outcome, post = done.outcome.post_id, done.outcome.outcome, done.post
        note = "" if outcome == "created" else _(" (already queued: same content)")
        if outcome not in ("created", "unchanged"):
            note = f" ({in_words(outcome)})"
        if post.wants_slot and post.publish_at is not None:
            note += _(", slot {time} {zone}").format(
                time=local(settings, post.publish_at), zone=settings.zone.key
            ) + (_(" (rubric {rubric})").format(rubric=post.rubric) if post.rubric else "")
        print(_("{file}: post {number}").format(file=printable(path.name), number=post_id) + note)
        delivery, due = _("delivery"), _("due")
        for d in store.deliveries(post_id=post_id):
            when, state = local(settings, d.due_at), in_words(d.state.value)
            print(f"  {d.target:<12} {delivery} {d.id:<6} {due} {when}  {state}")
        print(receipt_text(done, settings.zone, datetime.now(UTC)))
    return status


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    """A draft of every network's text; a network that would refuse it is marked with the fix. Exit 2 then."""
    from publisher.compose.composer import render
    from publisher.intake.mentions import check_mentions

    intake = _intake(settings, with_store=False)
    try:
        post = intake.read(Path(args.file))
    except InputError as exc:
        print(_("rejected: {reason}").format(reason=exc), file=sys.stderr)
        return USAGE
    problems: list[InputError] = []
    try:
        intake.check_dates(post, datetime.now(UTC))
    except InputError as exc:
        problems.append(exc)
    try:
        check_mentions(post, intake.directory())
    except InputError as exc:
        problems.append(exc)
    renders: list[tuple[str, Any]] = []
    for target in post.targets:
        try:
            renders.append((target, render(post, target, intake.directory())))
        except InputError as exc:
            problems.append(exc)
            renders.append((target, exc))
    if args.json:
        for target, r in renders:
            row = {"target": target, "error": str(r)} if isinstance(r, InputError) else r.as_dict()
            print(json.dumps(row, ensure_ascii=False))
        return USAGE if problems else OK
    when = local_time(post.publish_at, settings.zone) if post.publish_at else _("as soon as it is accepted")
    print(
        _("DRAFT of {file}: nothing is queued. Publishing time: {time}.").format(
            file=post.source_name, time=when
        )
    )
    print()
    for target, r in renders:
        if isinstance(r, InputError):
            print(f"=== {target}: " + _("WILL BE REFUSED"))
            print(f"!!! {r}")
            print()
            continue
        pictures = " " + _("with {count} pictures").format(count=len(r.media)) if r.media else ""
        print(f"=== {r.target}: {r.length}/{r.limit}{pictures}")
        print(r.text)
        if r.hashtags:
            label = _("hashtags")
            print(f"--- {label}: {' '.join('#' + h.lstrip('#') for h in r.hashtags)}")
        if r.mentions:
            label = _("mentions")
            print(f"--- {label}: {', '.join(r.mentions)}")
        for w in r.warnings:
            print(f"!!! {w}")
        print()
    if problems:
        print(_("This draft would be refused: fix what is marked with !!! above."))
        for problem in problems:
            if problem.field in ("publish_at", "text"):
                print(f"!!! {problem}")
        return USAGE
    print(_("This draft can be accepted: drop it into the inbox."))
    return OK


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.store import Store

    store = Store(settings.resolved_database_url, migrate=False)
    applied = store.migrate()
    print(
        f"schema version {store.schema_version()}" + (f" (applied {applied})" if applied else " (up to date)")
    )
    return OK


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="publisher",
        description="Scheduled publishing to VK, X, a Facebook Page and a Telegram channel.",
        epilog="Settings come from PUBLISHER_* environment variables and the settings file; see settings.example.env.",
    )
    p.add_argument("--version", action="version", version=f"publisher {__version__}")
    p.add_argument(
        "--settings",
        metavar="FILE",
        help="settings file (default: $PUBLISHER_SETTINGS_FILE or ./settings.env)",
    )
    p.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override PUBLISHER_LOG_LEVEL"
    )
    p.add_argument("--log-format", choices=["text", "json"], help="override PUBLISHER_LOG_FORMAT")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon (drains the inbox and the queue on schedule)")
    run.add_argument("--once", action="store_true", help="ingest, publish what is due now, and exit")
    run.add_argument("--dry-run", action="store_true", help="render and record, but call no network")
    run.set_defaults(func=cmd_run)

    enq = sub.add_parser("enqueue", help="validate post files and add them to the queue")
    enq.add_argument("files", nargs="+", metavar="FILE")
    enq.set_defaults(func=cmd_enqueue)

    pre = sub.add_parser("preview", help="show how a post file will look on each network, without queuing it")
    pre.add_argument("file", metavar="FILE")
    pre.add_argument("--json", action="store_true")
    pre.set_defaults(func=cmd_preview)

    q = sub.add_parser("queue", help="list deliveries that are not finished")
    q.add_argument("--state", choices=[s.value for s in DeliveryState])
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_queue)

    lg = sub.add_parser("log", help="the publish log: what went out, where, and what failed and why")
    lg.add_argument("--since", metavar="WHEN", help="2h, 3d, today or a local date/time")
    lg.add_argument("--target", metavar="T", help="vk, x, facebook, telegram or NET:ACCOUNT")
    lg.add_argument("--status", metavar="S", help="published, failed, in_doubt, retry_wait, rejected, ...")
    lg.add_argument("--post", type=int, metavar="ID")
    lg.add_argument("--limit", type=int, metavar="N", help="only the last N events")
    lg.add_argument("--json", action="store_true", help="one JSON object per line")
    lg.set_defaults(func=cmd_log)

    _delivery_command(sub, "show", cmd_show, "one delivery with its whole history")
    rt = _delivery_command(sub, "retry", cmd_retry, "put a failed or in-doubt delivery back in the queue")
    rt.add_argument("--yes", action="store_true", help="confirm re-sending an in-doubt delivery")
    _delivery_command(sub, "cancel", cmd_cancel, "cancel a delivery that is not published")
    rs = _delivery_command(
        sub, "resolve", cmd_resolve, "settle an in-doubt delivery after checking the network"
    )
    how = rs.add_mutually_exclusive_group(required=True)
    how.add_argument("--published-as", metavar="URL_OR_ID", help="it is on the network: its URL or id")
    how.add_argument(
        "--not-published", action="store_true", help="it is not there (it will not be sent again)"
    )

    pa = sub.add_parser("pause", help="stop publishing to a target until resumed")
    pa.add_argument("target")
    pa.add_argument("--reason")
    pa.set_defaults(func=cmd_pause)

    re_ = sub.add_parser("resume", help="resume a paused target")
    re_.add_argument("target")
    re_.set_defaults(func=cmd_resume)

    ck = sub.add_parser("check", help="prove each configured account works and may post")
    ck.set_defaults(func=cmd_check)

    st = sub.add_parser("status", help="is the daemon alive, what waits, what failed (exit 1 if not running)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    mg = sub.add_parser("migrate", help="create or upgrade the database schema")
    mg.set_defaults(func=cmd_migrate)

    add_post_commands(sub)
    add_plan_commands(sub)
    metrics_commands.add_parsers(sub)
    return p


def _delivery_command(sub: Any, name: str, func: Any, text: str) -> argparse.ArgumentParser:
    """An operator's command about one delivery, named by its number (``publisher show 42``)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text)
    parser.add_argument("id", type=int)
    parser.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Human output goes through ``SafeTerminal``; a closed pipe ends quietly."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stdout, stderr = sys.stdout, sys.stderr
    if not (getattr(args, "json", False) or getattr(args, "csv", False)):  # machine formats stay exact
        sys.stdout = SafeTerminal(stdout)
    sys.stderr = SafeTerminal(stderr)
    try:
        result = _run(args)
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        # `publisher show 7 | head -2`: the reader has gone. Point stdout at /dev/null so the interpreter's
        # final flush does not fail again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
        return FAILURE
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if getattr(args, "dry_run", False):
        overrides["dry_run"] = True
    if args.log_level:
        overrides["log_level"] = args.log_level
    if args.log_format:
        overrides["log_format"] = args.log_format
    try:
        for name, what, high in (
            ("id", "delivery id", MAX_ID),
            ("post", "--post", MAX_ID),
            ("limit", "--limit", MAX_LIMIT),
        ):
            check_number(getattr(args, name, None), what, high)
        settings = load_settings(args.settings, **overrides)
    except (ConfigurationError, InputError) as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return USAGE
    args.overrides = overrides
    configure_logging(settings.log_level, settings.log_format)
    try:
        result: int = args.func(args, settings)
        return result
    except (InputError, ConfigurationError) as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return USAGE
    except PublisherError as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
