"""The editors' and operators' commands. Exit codes: 0 success, 1 failure, 2 usage or invalid input."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher import __version__
from publisher.errors import ConfigurationError, InputError, PublisherError, StoreError
from publisher.logsetup import configure_logging
from publisher.models import DeliveryState, Event, RemoteRef
from publisher.settings import Settings, load_settings

OK, FAILURE, USAGE = 0, 1, 2
UNFINISHED = [
    DeliveryState.QUEUED,
    DeliveryState.RETRY_WAIT,
    DeliveryState.PUBLISHING,
    DeliveryState.IN_DOUBT,
]


# --- output helpers ------------------------------------------------------------------------------


def local(settings: Settings, when: datetime | None) -> str:
    return when.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if when else "-"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def one_line(text: str | None, width: int = 70) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def parse_when(value: str, settings: Settings, now: datetime) -> datetime:
    """``2h``, ``3d``, ``30m``, ``today``, ``2026-12-01`` or ``2026-12-01 18:00`` (local time)."""
    text = value.strip().lower()
    match = re.fullmatch(r"(\d+)\s*([mhdw])", text)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    if text == "today":
        start = now.astimezone(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return start.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "--since", "", f"{value!r} is not a time", "use e.g. 2h, 3d, today or 2026-12-01 18:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone)
    return parsed.astimezone(UTC)


def event_json(e: Event) -> dict[str, Any]:
    return {
        "time": e.time.isoformat(),
        "event": e.id,
        "post": e.post_id,
        "delivery": e.delivery_id,
        "target": e.target,
        "status": e.status,
        "remote_id": e.remote_id,
        "url": e.url,
        "error": e.error,
        "detail": dict(e.detail),
    }


def open_store(settings: Settings) -> Any:
    from publisher.queue.store import Store

    return Store(settings.resolved_database_url)


def actor() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


# --- commands ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.daemon import run_daemon

    return run_daemon(settings, once=args.once, settings_file=args.settings, overrides=args.overrides)


def _intake(settings: Settings, with_store: bool) -> Any:
    from publisher.daemon import DirectoryHolder
    from publisher.queue.intake import Intake

    return Intake(
        open_store(settings) if with_store else None, settings, DirectoryHolder(settings.directory_file)
    )


def cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    intake = _intake(settings, with_store=True)
    status = OK
    for name in args.files:
        path = Path(name)
        try:
            post_id, created, _post = intake.accept(path)
        except InputError as exc:
            print(f"rejected: {exc}", file=sys.stderr)
            status = USAGE
            continue
        note = "" if created else " (already queued: same content)"
        print(f"{path.name}: post {post_id}{note}")
        for d in intake.store.deliveries(post_id=post_id):
            print(f"  {d.target:<12} delivery {d.id:<6} due {local(settings, d.due_at)}  {d.state.value}")
    return status


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    intake = _intake(settings, with_store=False)
    try:
        _post, renders = intake.parse(Path(args.file))
    except InputError as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return USAGE
    if args.json:
        for r in renders:
            print(json.dumps(r.as_dict(), ensure_ascii=False))
        return OK
    for r in renders:
        print(f"=== {r.target}: {r.length}/{r.limit}" + (f", {len(r.media)} media" if r.media else ""))
        print(r.text)
        if r.hashtags:
            print(f"--- hashtags: {' '.join('#' + h.lstrip('#') for h in r.hashtags)}")
        if r.mentions:
            print(f"--- mentions: {', '.join(r.mentions)}")
        for w in r.warnings:
            print(f"!!! {w}")
        print()
    return OK


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    states = [DeliveryState(args.state)] if args.state else UNFINISHED
    rows = store.deliveries(states=states)
    if args.json:
        for d in rows:
            print(json.dumps(_delivery_json(d), ensure_ascii=False))
        return OK
    if not rows:
        print("nothing waiting")
        return OK
    print(
        table(
            [
                (
                    d.id,
                    d.post_id,
                    d.target,
                    d.state.value,
                    local(settings, d.not_before or d.due_at),
                    d.attempts,
                    one_line(d.last_error, 50),
                )
                for d in rows
            ],
            ["ID", "POST", "TARGET", "STATE", "NEXT", "TRIES", "LAST ERROR"],
        )
    )
    return OK


def _delivery_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "post": d.post_id,
        "target": d.target,
        "state": d.state.value,
        "attempts": d.attempts,
        "due_at": d.due_at.isoformat(),
        "next_at": d.not_before.isoformat() if d.not_before else None,
        "remote_id": d.remote_id,
        "url": d.remote_url,
        "error": d.last_error,
    }


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    since = parse_when(args.since, settings, datetime.now(UTC)) if args.since else None
    found = store.events(
        since=since, target=args.target, status=args.status, post_id=args.post, limit=args.limit
    )
    if args.json:
        for e in found:
            print(json.dumps(event_json(e), ensure_ascii=False))
        return OK
    if not found:
        print("no events")
        return OK
    rows = []
    for e in found:
        what = e.url or e.remote_id or e.error or ""
        if e.detail.get("dry_run"):
            what = "dry run: " + one_line(str(e.detail.get("text", "")), 50)
        rows.append(
            (local(settings, e.time), e.post_id, e.delivery_id, e.target, e.status, one_line(what, 80))
        )
    print(table(rows, ["TIME", "POST", "DELIVERY", "TARGET", "STATUS", "DETAIL"]))
    return OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    d = store.get_delivery(args.id)
    if d is None:
        print(f"delivery {args.id} does not exist: see 'publisher queue' or 'publisher log'", file=sys.stderr)
        return FAILURE
    post = store.get_post(d.post_id)
    print(f"delivery {d.id}: post {d.post_id} ({post.source_name if post else '?'}) to {d.target}")
    print(f"  state     {d.state.value}   attempts {d.attempts}")
    print(f"  due       {local(settings, d.due_at)}   next {local(settings, d.not_before)}")
    if d.remote_id:
        print(f"  remote    {d.remote_id}  {d.remote_url or ''}")
    if d.last_error:
        print(f"  error     {d.last_error}")
    if d.rendered_text:
        print("  text      " + d.rendered_text.replace("\n", "\n            "))
    print("  history:")
    for e in store.events(delivery_id=d.id):
        extra = e.error or e.url or e.detail.get("reason") or ""
        print(f"    {local(settings, e.time)}  {e.status:<16} {one_line(str(extra), 80)}")
    return OK


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    d = store.get_delivery(args.id)
    if d is not None and d.state is DeliveryState.IN_DOUBT and not args.yes:
        print(
            f"delivery {d.id} is in doubt: it may already be published on {d.target}. Check the account first;\n"
            f"if it is there, run 'publisher resolve {d.id} --published-as URL' instead.",
            file=sys.stderr,
        )
        if not sys.stdin.isatty() or input("Send it again anyway? [y/N] ").strip().lower() not in (
            "y",
            "yes",
        ):
            print("not retried (use --yes to confirm without a prompt)", file=sys.stderr)
            return FAILURE
    done = store.retry(args.id, datetime.now(UTC), actor())
    print(f"delivery {done.id} to {done.target} is queued again")
    return OK


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    done = open_store(settings).cancel(args.id, datetime.now(UTC), actor())
    print(f"delivery {done.id} to {done.target} cancelled")
    return OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    ref = None
    if args.published_as:
        value = args.published_as
        ref = RemoteRef(value.rstrip("/").rsplit("/", 1)[-1], value) if "://" in value else RemoteRef(value)
    done = store.resolve(args.id, datetime.now(UTC), published_as=ref, actor=actor())
    print(f"delivery {done.id} to {done.target}: {done.state.value}")
    return OK


def cmd_pause(args: argparse.Namespace, settings: Settings) -> int:
    _known_target(settings, args.target)
    open_store(settings).hold_target(args.target, args.reason or f"paused by {actor()}", datetime.now(UTC))
    print(f"{args.target} paused: its deliveries wait until 'publisher resume {args.target}'")
    return OK


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    released = store.release_target(args.target, datetime.now(UTC), actor())
    store.close_incident(f"paused:{args.target}", datetime.now(UTC))
    print(f"{args.target} resumed" if released else f"{args.target} was not paused")
    return OK


def _known_target(settings: Settings, target: str) -> None:
    if target not in settings.known_targets():
        raise InputError(
            "target", "", f"{target!r} is unknown", f"known targets: {', '.join(settings.known_targets())}"
        )


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.adapters import build_adapter

    status = OK
    for target in settings.known_targets():
        section = settings.target(target)
        if not settings.is_dry_run(target) and section.credentials_missing() and ":" not in target:
            print(f"{target:<14} not configured")
            continue
        try:
            adapter = build_adapter(settings, target)
            info = adapter.check()
        except PublisherError as exc:
            print(f"{target:<14} FAIL  {exc}")
            status = FAILURE
            continue
        mark = "ok  " if info.can_post else "FAIL"
        if not info.can_post:
            status = FAILURE
        print(f"{target:<14} {mark}  {info.account}" + (f" — {info.detail}" if info.detail else ""))
    return status


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    now = datetime.now(UTC)
    beats = store.heartbeats()
    alive = [b for b in beats if b.stopped_at is None and (now - b.seen_at) < timedelta(seconds=60)]
    counts = store.counts_by_state()
    holds = store.holds(now)
    next_due = store.next_due_at(now)
    failures = store.events(status="failed", limit=5, newest_first=True)
    if args.json:
        print(
            json.dumps(
                {
                    "daemon_alive": bool(alive),
                    "daemons": [
                        {
                            "id": b.daemon_id,
                            "seen_at": b.seen_at.isoformat(),
                            "stopped": b.stopped_at is not None,
                            "status": b.status,
                        }
                        for b in beats
                    ],
                    "counts": counts,
                    "holds": [
                        {
                            "target": h.target,
                            "reason": h.reason,
                            "since": h.since.isoformat(),
                            "until": h.until.isoformat() if h.until else None,
                        }
                        for h in holds
                    ],
                    "next_due": next_due.isoformat() if next_due else None,
                    "last_failures": [event_json(e) for e in failures],
                },
                ensure_ascii=False,
            )
        )
        return OK if alive else FAILURE
    if alive:
        print(
            f"daemon: running ({', '.join(b.daemon_id for b in alive)}), last heartbeat {local(settings, alive[0].seen_at)}"
        )
    elif beats:
        b = beats[0]
        how = "stopped" if b.stopped_at else "NOT RESPONDING"
        print(f"daemon: {how} (last seen {local(settings, b.seen_at)} on {b.host})")
    else:
        print("daemon: never started on this database")
    print("deliveries: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for h in holds:
        kind = "paused" if h.until is None else f"rate limited until {local(settings, h.until)}"
        print(f"target {h.target}: {kind} — {one_line(h.reason, 80)}")
    print(f"next due: {local(settings, next_due)}")
    if failures:
        print("last failures:")
        for e in failures:
            print(
                f"  {local(settings, e.time)}  delivery {e.delivery_id} {e.target}: {one_line(e.error, 80)}"
            )
    return OK if alive else FAILURE


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.queue.store import Store

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

    sh = sub.add_parser("show", help="one delivery with its whole history")
    sh.add_argument("id", type=int)
    sh.set_defaults(func=cmd_show)

    rt = sub.add_parser("retry", help="put a failed or in-doubt delivery back in the queue")
    rt.add_argument("id", type=int)
    rt.add_argument("--yes", action="store_true", help="confirm re-sending an in-doubt delivery")
    rt.set_defaults(func=cmd_retry)

    cn = sub.add_parser("cancel", help="cancel a delivery that is not published")
    cn.add_argument("id", type=int)
    cn.set_defaults(func=cmd_cancel)

    rs = sub.add_parser("resolve", help="settle an in-doubt delivery after checking the network")
    rs.add_argument("id", type=int)
    how = rs.add_mutually_exclusive_group(required=True)
    how.add_argument("--published-as", metavar="URL_OR_ID", help="it is on the network: its URL or id")
    how.add_argument(
        "--not-published", action="store_true", help="it is not there (it will not be sent again)"
    )
    rs.set_defaults(func=cmd_resolve)

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if getattr(args, "dry_run", False):
        overrides["dry_run"] = True
    if args.log_level:
        overrides["log_level"] = args.log_level
    if args.log_format:
        overrides["log_format"] = args.log_format
    try:
        settings = load_settings(args.settings, **overrides)
    except ConfigurationError as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return USAGE
    args.overrides = overrides
    configure_logging(settings.log_level, settings.log_format)
    try:
        result: int = args.func(args, settings)
        return result
    except InputError as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return USAGE
    except (StoreError, ConfigurationError) as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return FAILURE
    except PublisherError as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
