"""The receipt an editor finds next to an accepted file (``processed/NAME.receipt.txt``), in their language.

It says what the service understood and will do: when (local time, zone named), where, each network's final
text with its length against the limit, and every warning; after a replacement, what changed, where the
waiting deliveries moved, and which networks were already out and so left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from publisher.i18n import _, local_time
from publisher.intake.accept import Accepted


def _field_name(name: str) -> str:
    names = {
        "body": _("the text"),
        "publish_at": _("the time"),
        "networks": _("the networks"),
        "media": _("the pictures"),
        "hashtags": _("the hashtags"),
        "mentions": _("the mentions"),
        "rubric": _("the rubric"),
        "overrides": _("the texts for single networks"),
        "link": _("the link"),
        "expires_at": _("the expiry time"),
    }
    return names.get(name, name)


def _state_name(state: str) -> str:
    names = {
        "published": _("published"),
        "publishing": _("being published right now"),
        "in_doubt": _("possibly published (the operator is checking)"),
    }
    return names.get(state, state)


def _targets(names: Iterable[str]) -> str:
    return ", ".join(names)


def receipt_text(done: Accepted, zone: ZoneInfo, now: datetime) -> str:
    """The whole receipt for one accepted file."""
    o, post = done.outcome, done.post
    name = post.source_name
    lines = [
        _("{file} is accepted as post '{key}' (number {number}), checked {time}.").format(
            file=name, key=o.key or post.key or o.post_id, number=o.post_id, time=local_time(now, zone)
        )
    ]
    if o.outcome == "withdrawn":
        lines.append(_("The post is withdrawn."))
        if o.cancelled:
            lines.append(
                _("Cancelled, will not be published: {targets}.").format(targets=_targets(o.cancelled))
            )
        else:
            lines.append(_("Nothing was waiting to be cancelled."))
        lines += _kept(o.kept)
        return "\n".join(lines) + "\n"
    if o.outcome == "unchanged":
        lines.append(_("This file was already accepted as it is: nothing changed."))
    when = o.due_at or post.publish_at
    if when is not None and when > now and post.wants_slot:
        slot = (
            _("It will be published {time}: the next free slot of rubric #{rubric}.")
            if post.rubric
            else _("It will be published {time}: the next free posting slot.")
        )
        lines.append(slot.format(time=local_time(when, zone), rubric=post.rubric))
    elif when is not None and when > now:
        lines.append(_("It will be published {time}.").format(time=local_time(when, zone)))
    elif o.outcome != "unchanged":
        lines.append(_("It will be published now."))
    if o.outcome == "replaced":
        changed = ", ".join(_field_name(f) for f in o.changed) or _("nothing")
        lines.append(
            _("It replaces the post waiting under this id; changed: {fields}.").format(fields=changed)
        )
        if o.due_before is not None and when is not None and o.due_before != when:
            lines.append(
                _("The waiting networks moved from {before} to {after}.").format(
                    before=local_time(o.due_before, zone), after=local_time(when, zone)
                )
            )
        if o.added:
            lines.append(_("Added: {targets}.").format(targets=_targets(o.added)))
        if o.cancelled:
            lines.append(
                _("Removed, will not be published: {targets}.").format(targets=_targets(o.cancelled))
            )
        if o.requeued:
            lines.append(
                _("Will be tried again with the new text: {targets}.").format(targets=_targets(o.requeued))
            )
        lines += _kept(o.kept)
    for r in done.renders:
        lines.append("")
        lines.append(
            _("=== {network}: {length} of {limit} characters").format(
                network=r.target, length=r.length, limit=r.limit
            )
            + (" " + _("with {count} pictures").format(count=len(r.media)) if r.media else "")
        )
        lines.append(r.text)
        for warning in r.warnings:
            lines.append(_("Attention: {warning}").format(warning=warning))
    return "\n".join(lines) + "\n"


def _kept(kept: dict[str, str]) -> list[str]:
    return [
        _("{target}: left as it is, already {state}.").format(target=t, state=_state_name(s))
        for t, s in kept.items()
    ]
