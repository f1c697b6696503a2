"""What acceptance refuses for the editors' sake: old dates, the same text again; and what it lets through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.compose.directory import load_directory
from publisher.errors import InputError
from publisher.intake.accept import Intake
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def intake(tmp_path: Path, store_url: str, clock: FakeClock) -> Iterator[Intake]:
    settings = Settings(data_dir=tmp_path / "var", database_url=store_url)
    store = Store(store_url)
    directory = load_directory(ROOT / "directory.example.yaml")
    yield Intake(store, settings, lambda: directory, clock)
    store.close()


def drop(folder: Path, name: str, body: str, networks: str = "[vk, telegram]", **front: str) -> Path:
    lines = ["---", f"networks: {networks}", "approved_by: Анна", *(f"{k}: {v}" for k, v in front.items())]
    path = folder / name
    path.write_text("\n".join([*lines, "---", body, ""]), encoding="utf-8")
    return path


def local(clock: FakeClock, **delta: float) -> str:
    return (clock() + timedelta(**delta)).astimezone(Settings().zone).strftime("%Y-%m-%d %H:%M")


def test_a_date_well_in_the_past_is_refused_and_now_publishes_at_once(
    intake: Intake, tmp_path: Path, clock: FakeClock
) -> None:
    old = drop(tmp_path, "old.md", "Лекция", publish_at=local(clock, days=-7))
    with pytest.raises(InputError) as caught:
        intake.submit(old)
    assert caught.value.field == "publish_at" and "publish_at: now" in str(caught.value)
    assert "(Europe/Minsk)" in str(caught.value)

    recent = intake.submit(drop(tmp_path, "recent.md", "Лекция 2", publish_at=local(clock, minutes=-5)))
    assert recent.outcome.outcome == "created"
    now = intake.submit(drop(tmp_path, "now.md", "Лекция 3", publish_at="now"))
    assert now.outcome.due_at == clock()


def test_the_same_file_again_is_never_refused_for_its_age(
    intake: Intake, tmp_path: Path, clock: FakeClock
) -> None:
    """A crash between storing and moving: the file is taken again later and must not be rejected then."""
    path = drop(tmp_path, "kino.md", "Киноклуб", publish_at=local(clock, minutes=2))
    first = intake.submit(path)
    clock.advance(hours=1)
    again = intake.submit(path)
    assert again.outcome.outcome == "unchanged" and again.outcome.post_id == first.outcome.post_id


def test_the_same_text_to_the_same_network_is_refused_unless_allowed(
    intake: Intake, tmp_path: Path, clock: FakeClock
) -> None:
    intake.submit(drop(tmp_path, "kino.md", "Киноклуб в пятницу"))
    clock.advance(days=3)
    with pytest.raises(InputError) as caught:
        intake.submit(drop(tmp_path, "kino-again.md", "Киноклуб в пятницу"))
    assert "kino" in caught.value.problem and "allow_duplicate: true" in caught.value.fix
    allowed = intake.submit(drop(tmp_path, "kino-again.md", "Киноклуб в пятницу", allow_duplicate="true"))
    assert allowed.outcome.outcome == "created"
    # Editing the same post (same id) is a replacement, not a repeat.
    edited = intake.submit(drop(tmp_path, "kino.md", "Киноклуб в пятницу", publish_at=local(clock, days=1)))
    assert edited.outcome.outcome == "replaced"
    clock.advance(days=31)
    assert intake.submit(drop(tmp_path, "kino-3.md", "Киноклуб в пятницу")).outcome.outcome == "created"


def test_author_defaults_to_approved_by(intake: Intake, tmp_path: Path) -> None:
    a = intake.submit(drop(tmp_path, "a.md", "Текст А", author="Ольга"))
    b = intake.submit(drop(tmp_path, "b.md", "Текст Б"))
    assert intake.store is not None
    assert intake.store.get_post(a.outcome.post_id).author == "Ольга"  # type: ignore[union-attr]
    assert intake.store.get_post(b.outcome.post_id).author == "Анна"  # type: ignore[union-attr]


def test_an_unknown_mention_is_refused_with_a_suggestion_and_an_escape_publishes_it_as_written(
    intake: Intake, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as caught:
        intake.submit(drop(tmp_path, "typo.md", "Студенты @fmpp и @fitr на выставке"))
    assert "@fmpp: not in the directory — did you mean @fmmp?" in str(caught.value)
    assert "\\@fmpp" in caught.value.fix

    done = intake.submit(drop(tmp_path, "escaped.md", "Пишите нам: \\@fmpp_fan и @fitr_bntu"))
    texts = {r.target: r.text for r in done.renders}
    assert texts["telegram"].startswith("Пишите нам: @fmpp_fan и @fitr_bntu")
    assert not any("fmpp" in str(w) for r in done.renders for w in r.warnings)
    assert "[club12345|ФИТР БНТУ]" not in texts["vk"] or "@fmpp_fan" in texts["vk"]


def test_a_mention_in_the_editors_own_words(intake: Intake, tmp_path: Path) -> None:
    done = intake.submit(
        drop(
            tmp_path,
            "words.md",
            "Приглашаем [студентам ФИТР](@fitr) на выставку",
            networks="[vk, x, facebook, telegram]",
        )
    )
    texts = {r.target: r.text.split("\n")[0] for r in done.renders}
    assert texts["vk"] == "Приглашаем [club12345|студентам ФИТР] на выставку"
    assert texts["x"] == "Приглашаем студентам ФИТР (@fitr_bntu) на выставку"
    assert texts["telegram"] == "Приглашаем студентам ФИТР (@fitr_bntu) на выставку"
    assert texts["facebook"] == "Приглашаем студентам ФИТР на выставку"
    assert all("ФИТР БНТУ" not in r.text for r in done.renders)  # not mentioned a second time by name
    with pytest.raises(InputError) as caught:
        intake.submit(drop(tmp_path, "typo.md", "Приглашаем [студентов](@fmpp)"))
    assert "did you mean @fmmp" in str(caught.value)
