"""The operators' commands: look at the queue and the log, settle deliveries, pause targets, check health."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from publisher.cli.format import (
    FAILURE,
    OK,
    delivery_json,
    event_json,
    listed,
    local,
    one_line,
    parse_when,
    table,
)
from publisher.errors import ConfigurationError, InputError, PublisherError, PublishError
from publisher.models import DeliveryState, RemoteRef, network_of
from publisher.ops.redact import scrub
from publisher.ops.safetext import printable

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from publisher.adapters.published import PostAddress
    from publisher.settings import Settings
    from publisher.store import Store


def open_store(settings: Settings) -> Store:
    from publisher.store import Store

    return Store(settings.resolved_database_url)


def actor() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    from publisher.store import UNFINISHED

    states = [DeliveryState(args.state)] if args.state else UNFINISHED
    rows = store.deliveries(states=states)
    if listed(rows, args.json, delivery_json, "nothing waiting"):
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


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    since = parse_when(args.since, settings, datetime.now(UTC)) if args.since else None
    found = store.events(
        since=since, target=args.target, status=args.status, post_id=args.post, limit=args.limit
    )
    facts = store.post_facts({e.post_id for e in found if e.post_id is not None}) if args.json else {}
    if listed(found, args.json, lambda e: event_json(e, facts.get(e.post_id or 0)), "no events"):
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
    print(f"delivery {d.id}: post {d.post_id} ({printable(post.source_name) if post else '?'}) to {d.target}")
    print(f"  state     {d.state.value}   attempts {d.attempts}")
    print(f"  due       {local(settings, d.due_at)}   next {local(settings, d.not_before)}")
    if d.remote_id:
        print(f"  remote    {d.remote_id}  {d.remote_url or ''}")
    if d.last_error:
        print(f"  error     {printable(d.last_error)}")
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
    now = datetime.now(UTC)
    done = store.retry(args.id, now, actor())  # closes its incidents: a new failure alerts again
    print(f"delivery {done.id} to {done.target} is queued again")
    return OK


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    done = open_store(settings).cancel(args.id, datetime.now(UTC), actor())
    print(f"delivery {done.id} to {done.target} cancelled")
    return OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    """Settle an in-doubt delivery; or give a published one recorded under a key no API reads (an
    Instagram shortcode, before ``resolve`` looked ids up) its id. The state is checked before any lookup."""
    store = open_store(settings)
    ref = None
    if args.published_as is not None:
        from publisher.adapters import profile_of
        from publisher.adapters.published import PostAddress, remote_ref
        from publisher.store.actions import RESOLVABLE, not_applicable

        d = store.get_delivery(args.id)
        if d is None:
            print(
                f"delivery {args.id} does not exist: see 'publisher queue' or 'publisher log'",
                file=sys.stderr,
            )
            return FAILURE
        network = network_of(d.target)
        form = profile_of(network).published
        correcting = d.state is DeliveryState.PUBLISHED and form is not None and form.misrecorded(d.remote_id)
        if d.state.value not in RESOLVABLE and not correcting:
            raise not_applicable(d.id, d.state.value, RESOLVABLE)
        found = remote_ref(network, form, args.published_as)
        instead = form.lookup_fix if form is not None else None
        ref = _look_up(settings, d.target, found, instead or "") if isinstance(found, PostAddress) else found
        if correcting:
            return _correct(store, d.id, d.target, d.remote_id or "", ref)
    now = datetime.now(UTC)
    done = store.resolve(args.id, now, published_as=ref, actor=actor())
    print(f"delivery {done.id} to {done.target}: {done.state.value}")
    return OK


def _correct(store: Store, delivery_id: int, target: str, was: str, ref: RemoteRef) -> int:
    note = f"the operator gave its id {ref.remote_id}, recorded instead of {was!r}"
    if not store.correct_remote_id(
        delivery_id, datetime.now(UTC), was=was, ref=ref, actor=actor(), note=note
    ):
        print(
            f"delivery {delivery_id} changed meanwhile: see 'publisher show {delivery_id}'", file=sys.stderr
        )
        return FAILURE
    print(f"delivery {delivery_id} to {target}: published, its id is now {ref.remote_id}")
    return OK


def _look_up(settings: Settings, target: str, address: PostAddress, instead: str) -> RemoteRef:
    """The id of the post at ``address`` (a URL that does not carry it: Instagram's shortcode), asked of the
    network, so the delivery is settled with the id metrics and reconciliation use. When that cannot be
    done, InputError (exit 2, the delivery unchanged) saying what to give instead."""
    from publisher.adapters import build_adapter

    def refused(problem: str) -> InputError:
        return InputError("--published-as", "", f"{address.url[:80]!r} {problem}", instead)

    if settings.is_dry_run(target):
        raise refused(f"cannot be looked up on {target} in dry run (nothing is asked of the network)")
    try:
        adapter = build_adapter(settings, target)
    except ConfigurationError as exc:
        raise refused(f"cannot be looked up on {target}: {one_line(str(exc), 200)}") from None
    try:
        found = adapter.find_published(address)
    except PublishError as exc:
        raise refused(f"could not be looked up on {target}: {one_line(str(exc), 200)}") from None
    finally:
        adapter.close()
    if found is None:
        raise refused(f"was not found among the newest posts of the account on {target}")
    return found


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
    from publisher.settings import target_variable

    status = OK
    for target in settings.known_targets():
        section = settings.target(target)
        missing = section.credentials_missing()
        if not settings.is_dry_run(target) and missing and ":" not in target:
            # Name what is missing: "not configured" alone leaves the operator guessing which variable.
            names = ", ".join(target_variable(target, name) for name in missing)
            print(f"{target:<14} not configured: set {names}")
            continue
        try:
            adapter = build_adapter(settings, target)
            info = adapter.check()
        except PublisherError as exc:
            print(scrub(f"{target:<14} FAIL  {exc}"))
            status = FAILURE
            continue
        mark = "ok  " if info.can_post else "FAIL"
        if not info.can_post:
            status = FAILURE
        print(scrub(f"{target:<14} {mark}  {info.account}" + (f" — {info.detail}" if info.detail else "")))
    return status


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from publisher.dispatch.health import unrepaired_inbox_problem

    store = open_store(settings)
    now = datetime.now(UTC)
    beats = store.heartbeats()
    alive = [b for b in beats if b.stopped_at is None and (now - b.seen_at) < timedelta(seconds=60)]
    counts = store.counts_by_state()
    holds = store.holds(now)
    next_due = store.next_due_at(now)
    failures = store.events(status="failed", limit=5, newest_first=True)
    inbox_problem = unrepaired_inbox_problem(store)
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
                    "inbox_problem": inbox_problem.error if inbox_problem else None,
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
        # Often the wrong database rather than a daemon that never ran: a shell without the service's settings.
        database = settings.resolved_database_url.split("@")[-1]  # never the password of a PostgreSQL URL
        print(
            f"daemon: never started on this database ({database}); if the service runs, "
            "run this with its settings (PUBLISHER_SETTINGS_FILE, see docs/install.md)"
        )
    print("deliveries: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for h in holds:
        kind = "paused" if h.until is None else f"rate limited until {local(settings, h.until)}"
        print(f"target {h.target}: {kind} — {one_line(h.reason, 80)}")
    print(f"next due: {local(settings, next_due)}")
    if inbox_problem:
        print(f"inbox: BROKEN since {local(settings, inbox_problem.time)} (new files wait):")
        for problem in (inbox_problem.error or "").splitlines():
            print(f"  {one_line(problem, 1000)}")
    if failures:
        print("last failures:")
        for e in failures:
            print(
                f"  {local(settings, e.time)}  delivery {e.delivery_id} {e.target}: {one_line(e.error, 80)}"
            )
    return OK if alive else FAILURE
