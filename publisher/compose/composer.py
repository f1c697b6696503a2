"""The composer: one post, written once by an editor, rewritten in each network's own syntax. Pure, no I/O.

Every network's rules come from its ``PROFILE`` (``publisher/adapters/<network>.py``): this module holds no
network names. For every target it renders ``@key`` mentions in the network's syntax (or as plain names), adds the ``mentions:`` the body does not already make on a closing line, appends hashtags (the post's own,
the rubric's, the library's standard ones; de-duplicated against each other and the body), and measures the
result the way the network does. Too long: drop optional hashtags (standard, then the post's own; never the
rubric's), then fall back to the post's override text, then refuse with a message that says by how much.
Rendering is idempotent: a rendered text fed back as the body comes out unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from publisher.adapters import ADAPTERS, profile_of
from publisher.adapters.profile import NetworkProfile
from publisher.compose.directory import (
    Directory,
    Entity,
    HashtagError,
    normalize_hashtag,
)
from publisher.compose.media_rules import media_problems
from publisher.compose.notices import Kind, Notice
from publisher.compose.rules import BODY_TAG, lowest, refusals
from publisher.compose.rules import warnings as rule_warnings
from publisher.errors import InputError, InputErrors, combine_errors
from publisher.i18n import N_, _, ngettext
from publisher.models import NETWORKS, Post, Rendered, network_of

#: The profiles' ways of counting (``PROFILE.counting``), marked for the editors' catalogs, which say them in
#: plain words; a network whose phrase is not here is shown in English.
_COUNTING = (
    N_("characters"),
    N_("weighted characters (links 23, emoji and CJK 2)"),
    N_("UTF-16 code units of the visible text"),
)


def preload() -> None:
    """Import what measuring needs now: a daemon calls it at start, so the first post does not wait ~0.3 s."""
    import publisher.adapters.x_length  # noqa: F401  (twitter-text, and X's counting built on it)


def measure(
    network: str, text: str, *, has_media: bool, directory: Directory | None = None
) -> tuple[int, int]:
    """``(length, limit)`` of ``text`` as ``network`` counts it; ``directory`` supplies configured limits."""
    profile = profile_of(network)
    limit = profile.caption_limit if has_media and profile.caption_limit else profile.limit
    configured = directory.policy(network).max_length if directory is not None else None
    if configured is not None:
        limit = configured if profile.limit_configurable else min(limit, configured)
    return profile.measure(text), limit


# A mention in the editor's own words, ``[студентам ФИТР](@fitr)``, or a plain @word (as above).
_MENTION = re.compile(
    r"\[(?P<words>[^\[\]\n|]{1,200})\]\(@(?P<key>\w+)\)|(?<![\w@.+\-/&#])@(?P<word>\w++)(?![.\-]\w|@)"
)


@dataclass
class _Draft:
    text: str
    own: list[str]
    standard: list[str]
    hashtags: list[str]
    mentions: list[str]
    warnings: list[Notice] = field(default_factory=list)


class _Writer:
    """Renders texts for one network with one directory."""

    def __init__(self, profile: NetworkProfile, directory: Directory) -> None:
        self.network = profile.network
        self.directory = directory
        self.profile = profile
        self.policy = directory.policy(profile.network)
        self.esc = profile.escape
        option = profile.handle_mentions_option
        #: mentions are plain names unless the directory turns the network's handle mentions on
        self.names_only = option is not None and not getattr(self.policy, option, False)

    def by_name(self, entity: Entity) -> bool:
        """True when this network shows the entity as its plain name rather than a handle."""
        return self.names_only or entity.handle(self.network) is None

    def mention(self, entity: Entity, warnings: list[Notice]) -> str:
        handle = entity.handle(self.network)
        if self.names_only:
            return entity.name  # the normal form there, not a fallback: no warning
        if handle is None:
            warnings.append(
                Notice.of(Kind.NO_ACCOUNT, key=entity.key, network=self.profile.title, name=entity.name)
            )
            return self.esc(entity.name)
        return self.profile.write_mention(handle, entity.name)

    def render_body_mentions(self, text: str, warnings: list[Notice]) -> tuple[str, set[str], list[str]]:
        """Replace ``@key`` with the network's mention; leave other @words as written, with a warning that
        blocks publishing unless the word is a known handle (acceptance refuses unknown @words, so one here
        means a key removed from the directory while the post waited)."""
        keys: set[str] = set()
        rendered: list[str] = []

        def replace(match: re.Match[str]) -> str:
            if match.group("words") is not None:
                return in_words(match)
            word = match.group("word")
            if word[0].isdigit():  # "@2x", "@10:00": not a mention
                return match.group(0)
            if match.start() > 0 and text[match.start() - 1] == "\\":
                return match.group(0)  # "\\@word": the editor wants it as written (the backslash goes below)
            entity = self.directory.entity(word) if word.isascii() else None
            if entity is not None:
                keys.add(entity.key)
                rendered.append(self.mention(entity, warnings))
                return rendered[-1]
            if self.profile.at_handles and self.directory.entity_by_handle(self.network, word):
                return match.group(0)  # already this network's handle (a rendered text fed back)
            if any(self.directory.entity_by_handle(network, word) for network in NETWORKS):
                warnings.append(Notice.of(Kind.FOREIGN_HANDLE, word=word, network=self.profile.title))
            else:
                warnings.append(Notice.of(Kind.MISSING_KEY, key=word))
            return match.group(0)

        def in_words(match: re.Match[str]) -> str:
            """``[студентам ФИТР](@fitr)``: the editor's own words (in the right case) for the mention."""
            words, key = match.group("words").strip(), match.group("key")
            entity = self.directory.entity(key) if key.isascii() else None
            if entity is None:
                warnings.append(Notice.of(Kind.MISSING_KEY, key=key))
                return words
            keys.add(entity.key)
            handle = entity.handle(self.network)
            # No account here: the words say it; else the network's form (Facebook: the words alone).
            written = words if handle is None else self.profile.write_mention_in_words(handle, words)
            rendered.append(written)
            return written

        return _MENTION.sub(replace, text).replace("\\@", "@"), keys, rendered

    def mentioned(self, text: str) -> set[str]:
        """Keys of the entities the text already mentions in this network's syntax (or by name)."""
        found: set[str] = set()
        masked = text
        for match in self.profile.mention_pattern.finditer(text):
            entity = self.directory.entity_by_handle(self.network, match.group(1))
            if entity is not None and not self.by_name(entity):
                found.add(entity.key)
            masked = _mask(masked, match.start(), match.end())
        # Longest names first, each occurrence masked, so "БНТУ" is not found inside "ФИТР БНТУ".
        for entity, pattern in self.directory.name_patterns(self.esc):
            for match in pattern.finditer(masked):
                masked = _mask(masked, match.start(), match.end())
                if self.by_name(entity):
                    found.add(entity.key)
        return found

    def tag(self, kind: str, tag: str) -> str:
        community = kind == "rubric" and self.policy.community_hashtags
        return self.profile.write_hashtag(tag, self.policy.screen_name if community else None)

    def compose(
        self,
        body: str,
        tags: Mapping[str, Sequence[str]],
        mention_keys: Sequence[str],
        link: str | None,
    ) -> _Draft:
        warnings: list[Notice] = []
        text, keys, rendered = self.render_body_mentions(self.esc(body.strip()), warnings)
        present = keys | self.mentioned(text)
        closing: list[str] = []
        for key in mention_keys:
            entity = self.directory.entity(key)
            if entity is not None and entity.key not in present:
                present.add(entity.key)
                closing.append(self.mention(entity, warnings))
        paragraphs = [text] if text else []
        if link and self.profile.link_in_text and self.esc(link) not in text:
            paragraphs.append(self.esc(link))
        if closing:
            paragraphs.append(", ".join(closing))
        existing = {t.casefold() for t in BODY_TAG.findall("\n".join(paragraphs))}
        chosen: list[tuple[str, str]] = []
        seen = set(existing)
        for kind in ("own", "rubric", "standard"):
            for tag in tags.get(kind, ()):
                if tag.casefold() not in seen:
                    seen.add(tag.casefold())
                    chosen.append((kind, tag))
        chosen = self.apply_max_hashtags(chosen, len(existing), warnings)
        rendered_tags = [self.tag(kind, tag) for kind, tag in chosen]
        joined = "\n\n".join(paragraphs)
        if rendered_tags:
            line = " ".join(rendered_tags)
            separator = " " if self.policy.hashtag_placement == "inline" else "\n\n"
            joined = f"{joined}{separator}{line}" if joined else line
        return _Draft(
            text=joined,
            own=[t for k, t in chosen if k == "own"],
            standard=[t for k, t in chosen if k == "standard"],
            hashtags=rendered_tags,
            mentions=rendered + closing,
            warnings=warnings,
        )

    def apply_max_hashtags(
        self, chosen: list[tuple[str, str]], in_text: int, warnings: list[Notice]
    ) -> list[tuple[str, str]]:
        maximum = lowest(self.policy.max_hashtags, self.profile.max_hashtags)
        if maximum is None or in_text + len(chosen) <= maximum:
            return chosen
        kept = list(chosen)
        for kind in ("standard", "own"):
            for item in reversed(chosen):
                if item[0] == kind and in_text + len(kept) > maximum:
                    kept.remove(item)
                    warnings.append(
                        Notice.of(
                            Kind.DROPPED_HASHTAG_COUNT, tag=item[1], network=self.profile.title, count=maximum
                        )
                    )
        if in_text + len(kept) > maximum:
            count = in_text + len(kept)
            warnings.append(
                Notice.of(Kind.TOO_MANY_HASHTAGS, count=count, limit=maximum, network=self.profile.title)
            )
        return kept


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + "\0" * (end - start) + text[end:]


@lru_cache(maxsize=4096)
def _hashtag(raw: str) -> str:
    """``normalize_hashtag``, remembered: each target of a post normalizes its tags again (~2.5 µs a tag)."""
    return normalize_hashtag(raw)


def _post_inputs(
    post: Post, directory: Directory, errors: list[InputError], notices: list[Notice]
) -> tuple[list[str], list[str], list[str]]:
    """The rubric's tags, the post's own tags and the mentioned keys; problems go to ``errors``.

    A ``mentions:`` key the directory lacks is a notice that blocks publishing, like an unknown ``@key`` in
    the text: acceptance refuses both, so here it means the key was removed while the post waited.
    """
    source, where = post.source_name, f"the directory {directory.source_name}"
    rubric = directory.rubric(post.rubric) if post.rubric else None
    if post.rubric and rubric is None:
        known = ", ".join(directory.rubrics) or "none yet"
        fix = f"use one of: {known}; or add the rubric to the directory"
        errors.append(InputError(source, "rubric", f"{post.rubric!r} is not in {where}", fix))
    keys: list[str] = []
    for key in post.mentions:
        entity = directory.entity(key)
        if entity is None:
            notices.append(Notice.of(Kind.MISSING_KEY, key=key))
        elif entity.key not in keys:
            keys.append(entity.key)
    own: list[str] = []
    for index, raw in enumerate(post.hashtags):
        try:
            own.append(_hashtag(raw))
        except HashtagError as exc:
            errors.append(InputError(source, f"hashtags[{index}]", str(exc), "write the tag as one word"))
    return list(rubric.hashtags) if rubric else [], own, keys


def render(post: Post, target: str, directory: Directory) -> Rendered:
    """Write ``post`` for ``target`` (a network, or "network:account").

    Raises ``InputError`` (``InputErrors`` for several problems; ``source=post.source_name``) when the post
    cannot be written for that network: an unknown rubric, an invalid hashtag, too many files, a video the
    network would refuse (size, length, container: ``compose.media_rules``), or a text still too long after
    dropping optional hashtags and trying the override. A mention of a key the directory lacks is a warning
    that ``blocks_publishing`` (see ``notices``), so the caller can say which key is missing and what fixes it.
    """
    network = network_of(target)
    source = post.source_name
    if network not in ADAPTERS:
        fix = f"use one of: {', '.join(NETWORKS)}"
        raise InputError(source, "targets", f"names {target!r}: {network!r} is not a known network", fix)
    profile = profile_of(network)
    errors: list[InputError] = []
    notices: list[Notice] = []
    rubric_tags, own, keys = _post_inputs(post, directory, errors, notices)
    errors.extend(media_problems(post, target, profile))
    writer = _Writer(profile, directory)
    has_media = bool(post.media)
    tags = {"own": own, "rubric": rubric_tags, "standard": list(directory.standard_hashtags(network))}
    draft = writer.compose(post.body, tags, keys, post.link)
    length, limit = measure(network, draft.text, has_media=has_media, directory=directory)
    dropped: list[str] = []
    while length > limit and (draft.standard or draft.own):
        tags = {"own": list(draft.own), "rubric": rubric_tags, "standard": list(draft.standard)}
        dropped.append((tags["standard"] or tags["own"]).pop())
        draft = writer.compose(post.body, tags, keys, post.link)
        length, _limit = measure(network, draft.text, has_media=has_media, directory=directory)
    warnings = [Notice.of(Kind.DROPPED_HASHTAG_LENGTH, tag=t, network=profile.title) for t in dropped]
    unit = _(profile.counting) if length > limit else ""  # the phrases are marked in _COUNTING
    override_key = next((k for k in (target, network) if post.overrides.get(k)), None)
    if length > limit and override_key is None:
        problem = _(
            "is too long for {target}: {length} {unit} of {limit}, even without optional hashtags"
        ).format(target=target, length=length, unit=unit, limit=limit)
        fix = ngettext(
            "shorten it by {count} character or add overrides.{network}.text with a shorter version",
            "shorten it by {count} characters or add overrides.{network}.text with a shorter version",
            length - limit,
        ).format(count=length - limit, network=network)
        errors.append(InputError(source, "body", problem, fix))
    elif length > limit and override_key is not None:
        warnings = [
            Notice.of(Kind.USED_OVERRIDE, key=override_key, length=length, unit=profile.counting, limit=limit)
        ]
        draft = writer.compose(post.overrides[override_key], {"rubric": rubric_tags}, keys, post.link)
        length, _limit = measure(network, draft.text, has_media=has_media, directory=directory)
        if length > limit:
            problem = _("is too long for {target}: {length} {unit} of {limit}").format(
                target=target, length=length, unit=unit, limit=limit
            )
            fix = ngettext(
                "shorten it by {count} character", "shorten it by {count} characters", length - limit
            ).format(count=length - limit)
            errors.append(InputError(source, f"overrides.{override_key}", problem, fix))
    if not draft.text.strip() and not post.media:
        errors.append(
            InputError(
                source,
                "body",
                _("is empty for {target}").format(target=target),
                _("write a text or attach media"),
            )
        )
    errors += refusals(post, target, profile, draft.text)
    warnings += rule_warnings(post, profile, draft.text)
    if errors:
        raise combine_errors(source, errors)
    return Rendered(
        target=target,
        network=network,
        text=draft.text,
        length=length,
        limit=limit,
        media=post.media,
        hashtags=tuple(draft.hashtags),
        mentions=tuple(draft.mentions),
        warnings=tuple(dict.fromkeys(notices + draft.warnings + warnings)),
        link=post.link,
        parse_mode=profile.parse_mode,
    )


def render_all(post: Post, directory: Directory) -> list[Rendered]:
    """Render every target of ``post``; raise one ``InputError`` listing every problem of every target."""
    results: list[Rendered] = []
    errors: list[InputError] = []
    for target in post.targets:
        try:
            results.append(render(post, target, directory))
        except InputErrors as exc:
            errors.extend(exc.errors)
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise combine_errors(post.source_name, errors)
    return results
