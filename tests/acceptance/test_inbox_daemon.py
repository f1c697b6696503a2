"""The real ``publisher run --once`` against a hostile inbox: it still publishes the normal post next to it."""

from __future__ import annotations

import time
from pathlib import Path

from publisher.store import Store
from tests.daemon_helpers import base_env, run_cli
from tests.hostile_corpus import MAX_BYTES, MAX_MEDIA, MAX_MEDIA_TOTAL, corpus, make_outside, post_text


def test_run_once_takes_old_files_and_names_those_still_being_written(tmp_path: Path) -> None:
    inbox = tmp_path / "var" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "kino.md").write_text(post_text("networks: [vk]\napproved_by: редактор"), encoding="utf-8")

    waiting = run_cli(base_env(tmp_path, PUBLISHER_INBOX_SETTLE_SECONDS="3600"), "run", "--once", "--dry-run")
    assert waiting.returncode == 0, waiting.stderr
    assert "left 1 file(s) that changed in the last 3600 s (still being written?): kino.md" in waiting.stderr
    assert (inbox / "kino.md").exists()

    time.sleep(0.5)  # older than the settle time below at the next run's first sight
    taken = run_cli(base_env(tmp_path, PUBLISHER_INBOX_SETTLE_SECONDS="0.3"), "run", "--once", "--dry-run")
    assert taken.returncode == 0, taken.stderr
    assert (inbox / "processed" / "kino.md").exists()
    store = Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
    assert store.counts_by_state()["published"] == 1
    # A sound inbox at start is no repair: the publish log tells of one only after a breakage.
    assert store.events(status="inbox_repaired") == []
    store.close()


def test_hostile_batch_and_a_broken_folder_do_not_stop_a_normal_post(tmp_path: Path) -> None:
    """Every corpus case, a plain file named ``rejected`` and a ``processed`` link: the normal post is published."""
    inbox, outside = tmp_path / "var" / "inbox", tmp_path / "outside"
    inbox.mkdir(parents=True)
    make_outside(outside)
    cases = corpus()
    for case in cases:
        case.build(inbox, outside, case.name)
    (inbox / "zz_normal.md").write_text(
        post_text("networks: [vk, telegram]\napproved_by: редактор", "Обычный пост"), encoding="utf-8"
    )
    (inbox / "rejected").write_text("not a folder", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / "processed").symlink_to(elsewhere)
    env = base_env(
        tmp_path,
        PUBLISHER_INBOX_SETTLE_SECONDS="0",
        PUBLISHER_TIMEZONE="Europe/Berlin",  # the corpus's DST cases
        PUBLISHER_MAX_POST_BYTES=str(MAX_BYTES),
        PUBLISHER_MAX_MEDIA_BYTES=str(MAX_MEDIA),
        PUBLISHER_MAX_POST_MEDIA_BYTES=str(MAX_MEDIA_TOTAL),
    )

    first = run_cli(env, "run", "--once", "--dry-run")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    # File names with a newline or escape sequences neither forge a log line nor reach the terminal.
    assert not any(line.startswith("2026-01-01 INFO all good") for line in first.stderr.splitlines())
    assert "forged\\n2026-01-01 INFO all good.md" in first.stderr and "\x1b" not in first.stderr
    store = Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
    assert store.counts_by_state()["published"] == 2  # the normal post, to both targets
    assert list(elsewhere.iterdir()) == [], "written through the link"
    status = run_cli(env, "status")
    assert "inbox: BROKEN" in status.stdout and "rejected is a file, not a folder" in status.stdout
    assert "processed is a symbolic link" in status.stdout

    (inbox / "rejected").rename(tmp_path / "notes.txt")  # the operator moves both away
    (inbox / "processed").rename(tmp_path / "old-link")
    second = run_cli(env, "run", "--once", "--dry-run")
    assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr
    assert "inbox: BROKEN" not in run_cli(env, "status").stdout
    assert len(store.events(status="inbox_repaired")) == 1  # the repair, told once
    leftover = sorted(p.name for p in inbox.iterdir() if p.name not in ("processed", "rejected"))
    assert [n for n in leftover if n.endswith(".md")] == [], leftover
    assert len(store.events(status="rejected")) == len(cases)
    assert (inbox / "processed" / "zz_normal.md").exists()
    assert store.counts_by_state()["published"] == 2  # accepted again when moved: the same post, not a second
    store.close()
