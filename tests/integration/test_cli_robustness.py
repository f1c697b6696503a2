"""The operator's CLI against hostile data and out-of-range input (issue 11, points 4, 7, 8, 11).

Escape sequences stored in a post, an error or a pause reason are shown escaped by every human command and kept
exact in JSON; numbers and times out of range, bad settings and a database URL that is no database get one line
and exit 2; a closed pipe ends quietly; the data folder and the database are not readable by others.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.models import Post
from publisher.store import Store
from tests.daemon_helpers import ROOT
from tests.helpers import captured_log, service_env

CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;pwned\x07"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    service_env(monkeypatch, tmp_path, {})
    return tmp_path


@pytest.fixture
def hostile(env: Path) -> Iterator[int]:
    """A delivery whose text, error and target's pause reason carry escape sequences; yields its id."""
    store = Store(f"sqlite:///{env / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    store.add_post(
        Post(
            source_name="kino.md", source_key="k" * 64, targets=("vk",), approved_by="ed", body=f"Кино{CLEAR}"
        ),
        now,
    )
    (claim,) = store.claim_due(now, worker="test", lease_seconds=60)
    store.mark_sending(claim.delivery.id, claim.delivery.attempt_id or "", now, f"Кино{CLEAR}")
    store.record_failed(
        claim.delivery.id, claim.delivery.attempt_id or "", now, f"refused{TITLE}\nforged line"
    )
    store.hold_target("x", f"token{CLEAR}replaced", now)
    yield claim.delivery.id
    store.close()


@pytest.mark.parametrize(
    "argv",
    [["show", "{id}"], ["log"], ["status"], ["queue", "--state", "failed"]],
    ids=["show", "log", "status", "queue"],
)
def test_human_output_escapes_control_characters(
    hostile: int, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main([a.format(id=hostile) for a in argv])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b" in out
    assert "\nforged line" not in out


def test_json_output_stays_exact(hostile: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert f"refused{TITLE}\nforged line" in [r["error"] for r in rows]


def test_preview_escapes_the_post_text(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    post = env / "kino.md"
    post.write_text(f"---\nnetworks: [vk]\napproved_by: ed\n---\nСтрока{TITLE}\nвторая\n", encoding="utf-8")
    main(["preview", str(post)])
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err


def test_text_log_lines_cannot_be_forged() -> None:
    import logging

    with captured_log("INFO") as stream:
        logging.getLogger("publisher.inbox").warning(
            "inbox: %s rejected", "a\n2026-01-01 INFO forged\x1b[2J.md"
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "\x1b" not in lines[0] and "a\\n2026-01-01 INFO forged\\x1b[2J.md" in lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "99999999999999999999"],
        ["retry", "-5"],
        ["cancel", "0"],
        ["log", "--post", "18446744073709551616"],
        ["log", "--limit", "0"],
        ["log", "--limit", "99999999999999999999"],
        ["log", "--since", "99999999999d"],
        ["log", "--since", "0001-01-01"],
        ["log", "--since", "9999-12-31T23:59:59-14:00"],
    ],
)
def test_numbers_and_times_out_of_range_get_one_line_and_exit_2(
    env: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("publisher: ") and err.count("\n") == 1 and "out of range" in err, err


@pytest.mark.parametrize(
    ("variable", "value", "expect"),
    [
        ("PUBLISHER_INGEST_INTERVAL", "inf", "PUBLISHER_INGEST_INTERVAL: Input should be a finite number"),
        ("PUBLISHER_HOUSEKEEPING_INTERVAL", "1e308", "PUBLISHER_HOUSEKEEPING_INTERVAL: Input should be less"),
        ("PUBLISHER_LEASE_SECONDS", "nan", "PUBLISHER_LEASE_SECONDS: Input should be a finite number"),
        ("PUBLISHER_RETRY_MAX_SECONDS", "1e308", "PUBLISHER_RETRY_MAX_SECONDS: Input should be less"),
        ("PUBLISHER_X__TIMEOUTS__READ", "inf", "PUBLISHER_X__TIMEOUTS__READ: Input should be a finite"),
        ("PUBLISHER_DATABASE_URL", "mysql+nodriver://u@h/db", "PUBLISHER_DATABASE_URL is not usable"),
        ("PUBLISHER_DATABASE_URL", "foo://bar", "PUBLISHER_DATABASE_URL is not usable"),
        ("PUBLISHER_DATABASE_URL", "sqlite:///{tmp}/notes.txt", "does not point at a queue database"),
        ("PUBLISHER_DATABASE_URL", "sqlite:////proc/none/x.db", "the database file cannot be created"),
    ],
)
def test_bad_settings_get_one_line_and_exit_2(
    env: Path,
    variable: str,
    value: str,
    expect: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (env / "notes.txt").write_text("not a database, someone's notes\n" * 100)
    monkeypatch.setenv(variable, value.format(tmp=env))
    assert main(["log"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("publisher: ") and err.count("\n") == 1 and expect in err, err
    assert (env / "notes.txt").read_text().startswith("not a database")  # never overwritten


def test_a_closed_pipe_ends_quietly(hostile: int, env: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # like `| head -2` that has already exited
    try:
        done = subprocess.run(
            [sys.executable, "-m", "publisher", "show", str(hostile)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=env,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1


def test_data_folder_and_database_are_not_readable_by_others(env: Path) -> None:
    old = os.umask(0o022)  # the default umask of an interactive shell
    try:
        from publisher.dispatch.daemon import Daemon
        from publisher.settings import load_settings

        daemon = Daemon(load_settings())
        daemon.store.close()
    finally:
        os.umask(old)
    for path in (env / "var", env / "var" / "publisher.db"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, oct(path.stat().st_mode)
    for extra in (env / "var").glob("publisher.db-*"):  # WAL and shared memory inherit the mode
        assert stat.S_IMODE(extra.stat().st_mode) & 0o007 == 0, extra


@pytest.fixture
def in_doubt(env: Path) -> Iterator[tuple[Store, dict[str, int]]]:
    """One post in doubt on every network; yields the store and target -> delivery id."""
    store = Store(f"sqlite:///{env / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    targets = ("vk", "x", "facebook", "telegram")
    store.add_post(
        Post(source_name="kino.md", source_key="d" * 64, targets=targets, approved_by="ed", body="К"), now
    )
    ids = {}
    for claim in store.claim_due(now, worker="test", lease_seconds=60):
        d = claim.delivery
        store.record_in_doubt(d.id, d.attempt_id or "", now, "no answer after sending", reconcile_at=None)
        ids[d.target] = d.id
    yield store, ids
    store.close()


@pytest.mark.parametrize(
    ("target", "value", "remote_id"),
    [
        ("vk", "https://vk.com/wall-123_456", "-123_456"),
        ("vk", "https://vk.com/club123?w=wall-123_456", "-123_456"),
        ("vk", "-123_456", "-123_456"),
        ("x", "https://x.com/bntu_library/status/1234567890123456789/", "1234567890123456789"),
        ("x", "https://twitter.com/i/web/status/42", "42"),
        ("facebook", "https://www.facebook.com/123/posts/456", "123_456"),
        ("facebook", "123_456", "123_456"),
        ("telegram", "https://t.me/bntu_library/77", "77"),
        ("telegram", "https://t.me/c/1234567/78", "78"),
    ],
)
def test_resolve_accepts_an_address_or_id_of_the_delivery_network(
    in_doubt: tuple[Store, dict[str, int]], target: str, value: str, remote_id: str
) -> None:
    store, ids = in_doubt
    assert (
        main(["resolve", str(ids[target]), f"--published-as={value}"]) == 0
    )  # "=": an id may start with "-"
    d = store.get_delivery(ids[target])
    assert d is not None and d.state.value == "published" and d.remote_id == remote_id


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("vk", "javascript:alert(1)//https://vk.com/wall-1_2"),
        ("vk", "https://vk.com/wall-1_2" + "x" * 120_000),
        ("telegram", "https://vk.com/wall-123_456"),  # another network's post
        ("x", "https://x.com.evil.example/a/status/1"),
        ("x", "ftp://x.com/a/status/1"),
        ("x", "https://x.com/bntu_library"),  # an account, not a post
        ("facebook", "https://www.facebook.com/123/posts/456\nforged"),
        ("telegram", "hello"),
        ("telegram", ""),
    ],
)
def test_resolve_refuses_anything_else_and_leaves_the_delivery_in_doubt(
    in_doubt: tuple[Store, dict[str, int]], target: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, ids = in_doubt
    assert main(["resolve", str(ids[target]), f"--published-as={value}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("publisher: --published-as") and err.count("\n") == 1 and f"on {target}" in err, err
    d = store.get_delivery(ids[target])
    assert d is not None and d.state.value == "in_doubt"
