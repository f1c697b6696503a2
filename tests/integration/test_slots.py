"""``publish_at: slot``: the next free posting slot of the rubric, never two posts in one slot on a target."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.compose.directory import load_directory
from publisher.errors import InputError
from publisher.intake.accept import Intake
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock

DIRECTORY = """\
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: отдел редких книг (@e_kovaleva)
    cadence: {weekly: [tue, thu]}
    slots: ["10:00", "18:30"]
    networks: [vk, telegram]
"""
# Monday 2026-11-30 12:00 in Minsk (UTC+3): the first slots are Tue 1 Dec 10:00 and 18:30, Thu 3 Dec ...
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def expected(n: int) -> list[str]:
    days = ["2026-12-01", "2026-12-03", "2026-12-08", "2026-12-10", "2026-12-15", "2026-12-17"]
    days += ["2026-12-22", "2026-12-24", "2026-12-29", "2026-12-31", "2027-01-05", "2027-01-07"]
    return [f"{d} {t}" for d in days for t in ("10:00", "18:30")][:n]


def post_file(folder: Path, n: int, front: str = "rubric: древняядичь\npublish_at: slot") -> Path:
    path = folder / f"post{n:02}.md"
    path.write_text(f"---\napproved_by: редактор дня\n{front}\n---\nРедкая книга №{n}\n", encoding="utf-8")
    return path


def settings_for(tmp_path: Path, url: str) -> Settings:
    directory = tmp_path / "directory.yaml"
    directory.write_text(DIRECTORY, encoding="utf-8")
    return Settings(data_dir=tmp_path / "var", database_url=url, directory_file=directory)


def local(when: datetime | None) -> str:
    assert when is not None
    return when.astimezone(Settings().zone).strftime("%Y-%m-%d %H:%M")


def test_twenty_posts_dropped_at_once_take_twenty_different_slots(tmp_path: Path, store_url: str) -> None:
    settings = settings_for(tmp_path, store_url)
    files = [post_file(tmp_path, n) for n in range(20)]
    chosen: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(files), timeout=60)
    Store(store_url).close()  # the schema exists before the writers start

    def drop(path: Path) -> None:
        store = Store(store_url)  # one store each, as separate processes would have
        try:
            intake = Intake(store, settings, lambda: load_directory(settings.directory_file), FakeClock(NOW))
            start.wait()
            post_id, created, post = intake.accept(path)
            assert created and post.targets == ("vk", "telegram")  # the rubric's networks
            chosen.append((post_id, local(post.publish_at)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=drop, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(slot for _, slot in chosen) == expected(20)
    store = Store(store_url)
    per_target: dict[str, list[str]] = {}
    for d in store.deliveries():
        per_target.setdefault(d.target, []).append(local(d.due_at))
    assert {t: sorted(v) for t, v in per_target.items()} == {"vk": expected(20), "telegram": expected(20)}
    first = min(chosen, key=lambda c: c[1])
    event = store.events(post_id=first[0], status="enqueued")[0]
    assert event.detail["slot"] is True
    post = store.get_post(first[0])
    assert post is not None and post.expires_at is not None and post.expires_at > post.publish_at  # type: ignore[operator]
    store.close()


def test_a_slot_taken_on_one_target_is_skipped_for_a_post_to_that_target(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    store = Store(settings.resolved_database_url)
    intake = Intake(store, settings, lambda: load_directory(settings.directory_file), FakeClock(NOW))
    fixed = post_file(tmp_path, 1, "networks: [telegram]\npublish_at: 2026-12-01 10:00")
    intake.accept(fixed)
    only_vk = post_file(tmp_path, 2, "rubric: древняядичь\nnetworks: [vk]\npublish_at: slot")
    both = post_file(tmp_path, 3)
    assert local(intake.accept(only_vk)[2].publish_at) == "2026-12-01 10:00"  # telegram's post is no obstacle
    assert local(intake.accept(both)[2].publish_at) == "2026-12-01 18:30"
    again = intake.accept(both)
    assert (again[1], local(again[2].publish_at)) == (False, "2026-12-01 18:30")


def test_no_rubric_uses_the_default_slots_and_an_expiry_too_soon_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    settings = settings.model_copy(update={"default_slots": ["09:15"]})
    store = Store(settings.resolved_database_url)
    intake = Intake(store, settings, lambda: load_directory(settings.directory_file), FakeClock(NOW))
    plain = post_file(tmp_path, 1, "networks: [x]\npublish_at: slot")
    assert local(intake.accept(plain)[2].publish_at) == "2026-12-01 09:15"
    hurried = post_file(tmp_path, 2, "networks: [x]\npublish_at: slot\nexpires_at: 2026-12-01 09:00")
    with pytest.raises(InputError) as caught:
        intake.accept(hurried)
    assert "publish_at" in str(caught.value) and "no free slot" in str(caught.value)
    assert len(store.deliveries()) == 1


def test_enqueue_says_which_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PUBLISHER_"):
            monkeypatch.delenv(key)
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PUBLISHER_DIRECTORY_FILE", str(settings.directory_file))
    path = post_file(tmp_path, 1)
    assert main(["enqueue", str(path)]) == 0
    out = capsys.readouterr().out
    line = out.splitlines()[0]
    assert line.startswith("post01.md: пост № 1, слот ") and line.endswith(
        "Europe/Minsk (рубрика древняядичь)"
    )
    assert "ближайшее свободное время рубрики #древняядичь." in out  # the receipt, in Russian by default
