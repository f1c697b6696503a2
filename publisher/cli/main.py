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
from publisher.cli.language import add_command, cli_language, speak_argparse, whole_number
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
from publisher.i18n import _, local_time, set_language
from publisher.models import DeliveryState
from publisher.ops.logsetup import configure_logging
from publisher.ops.safetext import printable

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from publisher.intake.accept import Intake
    from publisher.settings import Settings

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
    """The whole command line, its help in the current language (``cli_language``, set before this is called)."""
    p = argparse.ArgumentParser(
        prog="publisher",
        description=_("Scheduled publishing to VK, X, a Facebook Page, a Telegram channel and Instagram."),
        epilog=_(
            "Settings come from PUBLISHER_* environment variables and the settings file; see "
            "settings.example.env. Texts for editors, this help included, are in Russian unless "
            "PUBLISHER_LANGUAGE=en (or language=en in the settings file) asks for English."
        ),
    )
    p.add_argument(
        "--version",
        action="version",
        version=f"publisher {__version__}",
        help=_("show program's version number and exit"),  # argparse's default is not translatable in 3.11
    )
    p.add_argument(
        "--settings",
        metavar="FILE",
        help=_("settings file (default: $PUBLISHER_SETTINGS_FILE or ./settings.env)"),
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help=_("how detailed the operators' log is (instead of PUBLISHER_LOG_LEVEL)"),
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        help=_("the operators' log format (instead of PUBLISHER_LOG_FORMAT)"),
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    json_lines = _("one JSON object per line")
    target = _("vk, x, facebook, telegram or NET:ACCOUNT (a named account of a network)")

    run = add_command(
        sub, "run", _("run the service: take posts from the inbox and publish the queue on time")
    )
    run.add_argument(
        "--once", action="store_true", help=_("take new posts, publish what is due now, and exit")
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help=_("a rehearsal: prepare and record, but send nothing to the networks"),
    )
    run.set_defaults(func=cmd_run)

    enq = add_command(sub, "enqueue", _("check post files and add them to the queue"))
    enq.add_argument(
        "files", nargs="+", metavar="FILE", help=_("post files, like those dropped into the inbox")
    )
    enq.set_defaults(func=cmd_enqueue)

    pre = add_command(sub, "preview", _("show how a post file will look on each network, without queuing it"))
    pre.add_argument("file", metavar="FILE", help=_("the post file"))
    pre.add_argument("--json", action="store_true", help=_("one JSON object per network"))
    pre.set_defaults(func=cmd_preview)

    q = add_command(
        sub, "queue", _("deliveries that are not finished (one delivery: one post to one network)")
    )
    q.add_argument(
        "--state", choices=[s.value for s in DeliveryState], help=_("only deliveries in this state")
    )
    q.add_argument("--json", action="store_true", help=json_lines)
    q.set_defaults(func=cmd_queue)

    lg = add_command(sub, "log", _("the publish log: what went out, where, and what failed and why"))
    lg.add_argument(
        "--since", metavar="WHEN", help=_("since when: 2h, 3d (hours, days ago), today or a local date/time")
    )
    lg.add_argument("--target", metavar="T", help=target)
    lg.add_argument(
        "--status",
        metavar="S",
        help=_("only this status: published, failed, in_doubt, retry_wait, rejected, ..."),
    )
    lg.add_argument("--post", type=whole_number, metavar="ID", help=_("only this post (its number)"))
    lg.add_argument("--limit", type=whole_number, metavar="N", help=_("only the last N events"))
    lg.add_argument("--json", action="store_true", help=json_lines)
    lg.set_defaults(func=cmd_log)

    _delivery_command(sub, "show", cmd_show, _("one delivery with its whole history"))
    rt = _delivery_command(sub, "retry", cmd_retry, _("put a failed or in-doubt delivery back in the queue"))
    rt.add_argument(
        "--yes",
        action="store_true",
        help=_("confirm sending an in-doubt delivery again (it may already be out)"),
    )
    _delivery_command(sub, "cancel", cmd_cancel, _("cancel a delivery that is not published"))
    rs = _delivery_command(
        sub, "resolve", cmd_resolve, _("settle an in-doubt delivery after checking the network by hand")
    )
    how = rs.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--published-as", metavar="URL_OR_ID", help=_("it is on the network: its address (URL) or id")
    )
    how.add_argument(
        "--not-published", action="store_true", help=_("it is not there (it will not be sent again)")
    )

    pa = add_command(sub, "pause", _("stop publishing to a network until 'publisher resume'"))
    pa.add_argument("target", help=target)
    pa.add_argument("--reason", help=_("why, for the team (shown by 'publisher status')"))
    pa.set_defaults(func=cmd_pause)

    re_ = add_command(sub, "resume", _("publish to a paused network again"))
    re_.add_argument("target", help=target)
    re_.set_defaults(func=cmd_resume)

    ck = add_command(sub, "check", _("prove each configured account works and may post"))
    ck.set_defaults(func=cmd_check)

    st = add_command(
        sub, "status", _("is the service running, what waits, what failed (exit code 1 if it is not running)")
    )
    st.add_argument("--json", action="store_true", help=_("one JSON object"))
    st.set_defaults(func=cmd_status)

    mg = add_command(sub, "migrate", _("create or upgrade the database schema"))
    mg.set_defaults(func=cmd_migrate)

    add_post_commands(sub)
    add_plan_commands(sub)
    metrics_commands.add_parsers(sub)
    return p


def _delivery_command(sub: Any, name: str, func: Any, text: str) -> argparse.ArgumentParser:
    """An operator's command about one delivery, named by its number (``publisher show 42``)."""
    parser = add_command(sub, name, text)
    parser.add_argument("id", type=whole_number, help=_("the delivery's number (see 'publisher queue')"))
    parser.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Human output goes through ``SafeTerminal``; a closed pipe ends quietly."""
    words = sys.argv[1:] if argv is None else list(argv)
    set_language(cli_language(words))
    speak_argparse()
    args = build_parser().parse_args(words)
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
    # Imported here, not at the top: `publisher --help` and a usage error do without pydantic (~0.25 s).
    from publisher.settings import load_settings

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
