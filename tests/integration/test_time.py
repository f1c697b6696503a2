"""Time: local publishing times across DST changes, and a clock that jumps.

Editors write local times (here Europe/Berlin, which changes clocks on 2026-03-29 and 2026-10-25). A time
in the spring gap does not exist and one in the autumn fold happens twice: both are refused at parsing
unless written with an offset. Every accepted post goes out once, at its UTC instant: not before, and
within one step of a clock that walks through the night. A clock that jumps forward hours or back an
hour (an NTP correction) republishes nothing and never lets one claim be taken twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.compose.directory import Directory
from publisher.errors import InputError
from publisher.intake.accept import Intake
from publisher.settings import Settings, load_settings
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fault_world import SHARED_CREDS, World, section, start_fakes

STEP = timedelta(minutes=7)  # not a divisor of an hour: due times fall between steps
SPRING = [  # (publish_at as written, the UTC instant it means)
    ("2026-03-29 01:30", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),  # CET, before the gap
    ("2026-03-29 03:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # CEST, after it
]
AUTUMN = [
    ("2026-10-25 01:30", datetime(2026, 10, 24, 23, 30, tzinfo=UTC)),  # CEST, before the fold
    ("2026-10-25T02:30+02:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # the first 02:30
    ("2026-10-25T02:30+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # the second 02:30
    ("2026-10-25 03:30", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),  # CET, after it
]


def post_file(folder: Path, name: str, publish_at: str) -> Path:
    path = folder / name
    path.write_text(
        f"---\nnetworks: [telegram]\napproved_by: редактор дня\npublish_at: {publish_at}\n---\n"
        f"Ночной пост {publish_at}: часы переводят, а пост выходит один раз.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def world(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, Settings, FakeClock]]:
    """A Telegram fake, settings with PUBLISHER_TIMEZONE=Europe/Berlin, and a dispatcher on a fake clock."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLISHER_TIMEZONE", "Europe/Berlin")
    creds = SHARED_CREDS
    clock = FakeClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    with start_fakes(creds, ("telegram",)) as fakes:
        telegram = section(fakes["telegram"])
        settings = load_settings(data_dir=tmp_path / "var", telegram=telegram, default_expiry_hours=None)
        assert settings.timezone == "Europe/Berlin"
        w = World(store, clock, fakes, creds, settings=settings)
        yield w, settings, clock
        w.close()


def accept(world: World, settings: Settings, path: Path) -> int:
    post_id, created, _ = Intake(world.store, settings, Directory.empty, world.clock).accept(path)
    assert created
    (d,) = world.store.deliveries(post_id=post_id)
    return d.id


def walk(world: World, start: datetime, end: datetime) -> dict[int, datetime]:
    """Step the clock from ``start`` to ``end``, draining at each step; when each delivery went out."""
    went_out: dict[int, datetime] = {}
    world.clock.now = start
    while world.clock.now <= end:
        world.drain()
        for d in world.store.deliveries():
            if d.state.value == "published":
                went_out.setdefault(d.id, world.clock.now)
        world.clock.now += STEP
    return went_out


@pytest.mark.parametrize(
    ("night", "start"),
    [(SPRING, datetime(2026, 3, 28, 22, 3, tzinfo=UTC)), (AUTUMN, datetime(2026, 10, 24, 21, 3, tzinfo=UTC))],
    ids=["spring-forward", "fall-back"],
)
def test_each_post_goes_out_once_at_its_instant_through_a_dst_night(
    world: tuple[World, Settings, FakeClock],
    tmp_path: Path,
    night: list[tuple[str, datetime]],
    start: datetime,
) -> None:
    w, settings, clock = world
    clock.now = start - timedelta(hours=10)  # the editor drops the files in the afternoon
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    due = {
        accept(w, settings, post_file(inbox, f"p{i}.md", text)): instant
        for i, (text, instant) in enumerate(night)
    }
    assert {w.get(d).due_at for d in due} == set(due.values())

    went_out = walk(w, start, start + timedelta(hours=6))
    assert set(went_out) == set(due)
    for did, instant in due.items():
        assert instant <= went_out[did] < instant + STEP  # not before, and at the first step after
        (published,) = w.store.events(delivery_id=did, status="published")
        assert published.time == went_out[did]
        assert w.statuses(did).count("publishing") == 1
    assert sorted(due, key=due.__getitem__) == sorted(went_out, key=went_out.__getitem__)
    assert len(w.fakes["telegram"].applied) == len(due)

    # The clock jumps forward hours, then back an hour: nothing is published again.
    for jump in (timedelta(hours=5), timedelta(hours=-1), timedelta(minutes=-30)):
        clock.now += jump
        w.drain()
        w.dispatcher.reconcile()
        assert all(w.get(did).state.value == "published" for did in due)
        assert len(w.fakes["telegram"].applied) == len(due)
    assert all(w.statuses(did).count("publishing") == 1 for did in due)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("2026-03-29 02:30", "does not exist in Europe/Berlin"),
        ("2026-10-25 02:30", "happens twice in Europe/Berlin"),
        ("2026-10-25 02:59", "happens twice in Europe/Berlin"),
        ("2026-03-29 02:00", "does not exist in Europe/Berlin"),
    ],
)
def test_a_local_time_in_the_gap_or_the_fold_is_refused_with_the_fix(
    world: tuple[World, Settings, FakeClock], tmp_path: Path, written: str, problem: str
) -> None:
    w, settings, clock = world
    with pytest.raises(InputError) as caught:
        Intake(w.store, settings, Directory.empty, clock).accept(post_file(tmp_path, "dst.md", written))
    message = str(caught.value)
    assert problem in message and "publish_at" in message and "offset" in message
    assert w.store.deliveries() == []


def test_a_claim_taken_before_the_clock_jumps_back_is_not_taken_twice(
    world: tuple[World, Settings, FakeClock],
) -> None:
    w, _, clock = world
    fake = w.fakes["telegram"]
    did = w.add("telegram")
    (claim,) = w.store.claim_due(clock(), worker="daemon-a", lease_seconds=600)
    clock.now -= timedelta(hours=1)  # NTP puts the clock back while daemon-a is publishing
    w.drain()  # another drain (and reaper) at the earlier time: the claim is not free
    assert w.get(did).state.value == "publishing" and not fake.requests
    w.dispatcher.process(claim)  # daemon-a finishes
    clock.now += timedelta(hours=3)
    w.drain()
    w.dispatcher.reconcile()
    assert w.get(did).state.value == "published" and len(fake.applied) == 1
    assert w.statuses(did) == ["enqueued", "publishing", "published"]


def test_a_claim_whose_lease_a_forward_jump_expired_cannot_send_after_it_was_reclaimed(
    world: tuple[World, Settings, FakeClock],
) -> None:
    w, _, clock = world
    fake = w.fakes["telegram"]
    did = w.add("telegram")
    (stale,) = w.store.claim_due(clock(), worker="daemon-a", lease_seconds=600)
    clock.now += timedelta(hours=2)  # the clock leaps past the lease before daemon-a sent anything
    w.drain()  # the reaper frees the claim (nothing was sent) and it is published afresh
    assert w.get(did).state.value == "published" and len(fake.applied) == 1
    w.dispatcher.process(stale)  # daemon-a wakes up with its old claim: fenced off, nothing sent
    assert len(fake.applied) == 1 and len(fake.requests) == 1
    assert w.statuses(did) == ["enqueued", "publishing", "released", "publishing", "published"]
