"""``publisher post ...``: whole posts for the operator who helps editors (list, show, reschedule, cancel).

A post is named by its identity (the ``id:`` of its file, else the file name) or its number. Every change is
recorded in the publish log with the operator's login as ``by``. The operator runs these at an editor's request
and reads the answer back to them, so the output is in the editors' language (Russian by default,
``PUBLISHER_LANGUAGE=en`` for English) like the other editor-facing texts; ``--json`` stays exact (English keys
and state values, for scripts), and the posts' own texts are shown as the editors wrote them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from publisher.cli.format import FAILURE, OK, listed, local, one_line, parse_when, table
from publisher.cli.language import add_command
from publisher.cli.operators import actor, open_store
from publisher.errors import InputError
from publisher.i18n import N_, _

if TYPE_CHECKING:  # loaded by the command that needs it: `publisher --help` starts without pydantic
    from publisher.settings import Settings

#: Delivery states and publish-log statuses in words (translated where shown); others are shown as stored.
_WORDS = {
    "queued": N_("waiting"),
    "retry_wait": N_("waiting to retry"),
    "publishing": N_("being published"),
    "published": N_("published"),
    "failed": N_("failed"),
    "in_doubt": N_("possibly published (being checked)"),
    "cancelled": N_("cancelled"),
    "enqueued": N_("accepted"),
    "in_doubt_checked": N_("checked on the network"),
    "replaced": N_("replaced"),
    "withdrawn": N_("withdrawn"),
    "rescheduled": N_("rescheduled"),
    "requeued": N_("queued again"),
    "retried": N_("retried"),
    "resolved": N_("resolved by the operator"),
    "id_corrected": N_("the post's id on the network corrected"),
    "rate_limited": N_("the network asked to wait"),
    "released": N_("put back in the queue"),
}


def in_words(state: str) -> str:
    """A delivery state or publish-log status as the editors read it."""
    return _(_WORDS[state]) if state in _WORDS else state


def add_post_commands(sub: Any) -> None:
    """The ``post`` command group on the main parser."""
    post = add_command(sub, "post", _("whole posts: list, show, reschedule, cancel"))
    psub = post.add_subparsers(dest="post_command", required=True, metavar="ACTION")
    ls = add_command(psub, "list", _("posts by publishing time, with their state on each network"))
    ls.add_argument(
        "--from", dest="due_from", metavar="WHEN", help=_("due at or after (local time: 2026-12-01 or today)")
    )
    ls.add_argument(
        "--to",
        dest="due_to",
        metavar="WHEN",
        help=_("due before (local time: 2026-12-08 18:00; a date alone includes that day)"),
    )
    ls.add_argument("--rubric", metavar="R", help=_("only the posts of this rubric"))
    ls.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    ls.set_defaults(func=cmd_post_list)
    _post_command(psub, "show", cmd_post_show, _("one post: its fields, deliveries and history"))
    rs = _post_command(
        psub, "reschedule", cmd_post_reschedule, _("move every delivery not yet sent to a new time")
    )
    rs.add_argument("when", metavar="WHEN", help=_("local time, e.g. '2026-12-01 18:00', or 'now'"))
    _post_command(psub, "cancel", cmd_post_cancel, _("cancel every delivery of the post not yet sent"))


def _post_command(psub: Any, name: str, func: Any, text: str) -> argparse.ArgumentParser:
    """A ``post`` action on one post, named by its id or number (``publisher post show kino``)."""
    parser = add_command(psub, name, text)
    parser.add_argument("post_ref", metavar="ID", help=_("the post's id (file name) or number"))
    parser.set_defaults(func=func)
    return parser


def _post_id(store: Any, ref: str) -> int:
    found: int | None = store.find_post_id(ref)
    if found is None:
        raise InputError(
            "post", "", _("'{ref}' is not a post").format(ref=ref), _("see 'publisher post list' for ids")
        )
    return found


def _when(value: str, settings: Settings, now: datetime) -> datetime:
    """An absolute local time (``2026-12-01 18:00``), ``today``, or ``now``; never a relative age."""
    if value.strip().lower() == "now":
        return now
    if value.strip()[:1].isdigit() and "-" not in value:
        raise InputError(
            "WHEN",
            "",
            _("'{value}' is not a date").format(value=value),
            _("write e.g. '2026-12-01 18:00' (local time)"),
        )
    return parse_when(value, settings, now)


def summary_json(s: Any, settings: Settings) -> dict[str, Any]:
    return {
        "post": s.id,
        "id": s.key,
        "title": s.title,
        "rubric": s.rubric,
        "author": s.author,
        "approved_by": s.approved_by,
        "networks": list(s.states),
        "due_at": s.due_at.isoformat() if s.due_at else None,
        "due_local": local(settings, s.due_at),
        "states": s.states,
        "revision": s.revision,
        "source": s.source_name,
    }


def cmd_post_list(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    now = datetime.now(UTC)
    due_from = _when(args.due_from, settings, now) if args.due_from else None
    due_to = _when(args.due_to, settings, now) if args.due_to else None
    if due_to is not None and args.due_to and len(args.due_to.strip()) == 10:
        due_to += timedelta(days=1)  # "--to 2026-12-08" includes that day
    found = store.post_summaries(due_from=due_from, due_to=due_to, rubric=args.rubric)
    if listed(found, args.json, lambda s: summary_json(s, settings), _("no posts")):
        return OK
    rows = [
        (
            s.key or s.id,
            one_line(s.title, 40),
            s.rubric,
            s.author,
            local(settings, s.due_at),
            ", ".join(f"{t}: {in_words(state)}" for t, state in s.states.items()),
        )
        for s in found
    ]
    headers = [_("ID"), _("TITLE"), _("RUBRIC"), _("AUTHOR"), _("DUE ({zone})"), _("NETWORKS")]
    print(table(rows, [h.format(zone=settings.timezone) for h in headers]))
    return OK


def cmd_post_show(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    post_id = _post_id(store, args.post_ref)
    summary = store.post_summaries(post_ids=[post_id])
    post = store.get_post(post_id)
    if not summary or post is None:
        print(_("post {ref} has no deliveries").format(ref=args.post_ref), file=sys.stderr)
        return FAILURE
    s = summary[0]
    print(
        _("post {key} (number {number}, revision {revision}, file {file})").format(
            key=s.key or s.id, number=s.id, revision=s.revision, file=s.source_name
        )
    )
    fields = [
        (_("author"), s.author),
        (_("approved by"), s.approved_by),
        (_("rubric"), s.rubric or "-"),
        (_("due"), f"{local(settings, s.due_at)} ({settings.timezone})"),
    ]
    width = max(len(label) for label, _value in [*fields, (_("text"), "")]) + 2
    for label, value in fields:
        print(f"  {label:<{width}}{value}")
    print(f"  {_('text'):<{width}}" + post.body.replace("\n", "\n" + " " * (width + 2)))
    print("  " + _("deliveries:"))
    for d in store.deliveries(post_id=post_id):
        where = d.remote_url or d.last_error or ""
        state = in_words(d.state.value)
        print(f"    {d.id:<6} {d.target:<12} {state:<11} {local(settings, d.due_at)}  {one_line(where, 60)}")
    print("  " + _("history:"))
    for e in store.events(post_id=post_id):
        who = e.detail.get("by") or ""
        what = e.error or e.url or ", ".join(e.detail.get("changed", [])) or e.detail.get("reason") or ""
        status = in_words(e.status)
        print(
            f"    {local(settings, e.time)}  {e.target or '':<12} {status:<12} {who:<14} {one_line(str(what), 60)}"
        )
    return OK


def cmd_post_reschedule(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    now = datetime.now(UTC)
    when = _when(args.when, settings, now)
    done = store.reschedule_post(_post_id(store, args.post_ref), when, now, actor=actor())
    print(
        _("post {key}: {targets} moved to {time} ({zone})").format(
            key=done.key or done.post_id,
            targets=", ".join(done.moved) or _("nothing"),
            time=local(settings, when),
            zone=settings.timezone,
        )
    )
    _print_kept(done.kept)
    return OK if done.moved else FAILURE


def cmd_post_cancel(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    done = store.cancel_post(_post_id(store, args.post_ref), datetime.now(UTC), actor=actor())
    print(
        _("post {key}: {targets} cancelled").format(
            key=done.key or done.post_id, targets=", ".join(done.cancelled) or _("nothing")
        )
    )
    _print_kept(done.kept)
    return OK


def _print_kept(kept: dict[str, str]) -> None:
    for target, state in kept.items():
        print("  " + _("{target}: left alone ({state})").format(target=target, state=in_words(state)))
