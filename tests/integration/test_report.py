"""``publisher report --month``: the HTML and CSV figures, checked against what the store holds.

The store gets 60 deliveries in November (4 networks, 5 rubrics, 6 mentioned entities, some without
figures) and 48 in October; every figure the test expects is computed here from what the builder wrote,
independently of ``publisher.metrics.figures``.
"""

from __future__ import annotations

import csv
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.metrics import charts
from publisher.models import Snapshot, network_of
from publisher.store import Store
from tests.metrics_world import ENTITIES, RUBRICS, TARGETS, World, build, month_start

NNBSP = "\u202f"


class Tables(HTMLParser):
    """The report's tables by section id: rows of cell texts (header row first); links kept aside."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[str]] = {}
        self.section = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id") or ""
            self.sections[self.section], self.links[self.section] = [], []
        elif tag == "tr":
            self.sections[self.section].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "a":
            self.links[self.section].append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.sections[self.section][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def ru(value: float) -> str:
    return f"{value:,.0f}".replace(",", NNBSP)


@pytest.fixture
def november(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, World, World]:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    store = Store(url)
    october = build(store, World(), month_start(2026, 10), 12, seed=3, key="o")
    world = build(store, World(), month_start(2026, 11), 15, seed=5, key="n", missing_every=13)
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    return store, world, october


def views_of(world: World, keep=lambda post, target: True) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        s.views
        for post, target, s in world.served.values()
        if s is not None and s.views is not None and keep(post, target)
    ]


def test_report_figures_match_the_store(november: tuple[Store, World, World], tmp_path: Path) -> None:
    _store, world, october = november
    served = world.served
    assert len(served) >= 50 and {t for _, t, _ in served.values()} == set(TARGETS)
    assert {p.rubric for p, _, _ in served.values()} == set(RUBRICS)
    assert {m for p, _, _ in served.values() for m in p.mentions} == set(ENTITIES)

    out = tmp_path / "out"
    assert main(["report", "--month", "2026-11", "--out", str(out), "--language", "ru"]) == 0
    html = (out / "report-2026-11.html").read_text(encoding="utf-8")
    rows = list(csv.DictReader((out / "report-2026-11.csv").open(encoding="utf-8-sig", newline="")))

    # CSV: one row per delivery of the month, with its newest figures.
    assert sorted(int(r["delivery"]) for r in rows) == sorted(served)
    for r in rows:
        post, target, snap = served[int(r["delivery"])]
        assert (r["target"], r["rubric"], r["author"]) == (target, post.rubric, post.approved_by)
        assert r["mentions"] == ";".join(post.mentions) and r["url"].endswith(f"/{r['delivery']}")
        if snap is None:
            assert r["views"] == r["likes"] == "" and r["reason"] == "not collected yet"
            continue
        for name in ("views", "likes", "reposts", "comments", "impressions", "reach"):
            value = getattr(snap, name)
            assert r[name] == ("" if value is None else str(value)), (name, r)
        assert r["available"] == ("yes" if snap.available else "no") and r["reason"] == snap.reason

    page = Tables()
    page.feed(html)
    t = page.sections
    assert '<html lang="ru">' in html and "Отчёт к круглому столу: ноябрь 2026" in html

    # Totals per network, with the month before.
    by_net = {row[0]: row for row in t["networks"][1:]}
    assert set(by_net) == set(TARGETS)
    for net in TARGETS:
        now = views_of(world, lambda p, tg, n=net: network_of(tg) == n)
        before = views_of(october, lambda p, tg, n=net: network_of(tg) == n)
        posts = sum(1 for _, tg, _ in served.values() if network_of(tg) == net)
        assert by_net[net][1] == str(posts)
        assert by_net[net][2] == (ru(sum(now)) if now else "–")
        assert by_net[net][3] == (ru(sum(before)) if before else "–")

    # Per rubric: posts, median and total views.
    by_rubric = {row[0]: row for row in t["rubrics"][1:]}
    for rubric in RUBRICS:
        seen = views_of(world, lambda p, tg, r=rubric: p.rubric == r)
        posts = sum(1 for p, _, _ in served.values() if p.rubric == rubric)
        assert by_rubric[rubric][1] == str(posts)
        assert by_rubric[rubric][2].rstrip(" *") == ru(statistics.median(seen))
        assert by_rubric[rubric][3] == ru(sum(seen))

    # Per author.
    by_author = {row[0]: row for row in t["authors"][1:]}
    for author in {p.approved_by for p, _, _ in served.values()}:
        assert by_author[author][3] == ru(sum(views_of(world, lambda p, tg, a=author: p.approved_by == a)))

    # Per mention: with vs without, within the same network and rubric, with the counts behind them.
    by_entity = {row[0]: row for row in t["mentions"][1:]}
    assert set(by_entity) == set(ENTITIES)
    for entity in ENTITIES:
        pairs = {(network_of(tg), p.rubric) for p, tg, _ in served.values() if entity in p.mentions}
        with_ = views_of(world, lambda p, tg, m=entity: m in p.mentions)
        without = views_of(
            world, lambda p, tg, m=entity, ps=pairs: m not in p.mentions and (network_of(tg), p.rubric) in ps
        )
        assert by_entity[entity][2].startswith(f"{ru(statistics.median(with_))} ({len(with_)} постов)")
        assert by_entity[entity][3].startswith(f"{ru(statistics.median(without))} ({len(without)} постов)")

    # Top and bottom 10 by views, with links.
    every = sorted(views_of(world), reverse=True)
    assert [row[4] for row in t["top"][1:]] == [ru(v) for v in every[:10]]
    assert [row[4] for row in t["bottom"][1:]] == [ru(v) for v in sorted(every)[:10]]
    assert len(page.links["top"]) == 10 and all(
        u.startswith("https://example.org/") for u in page.links["top"]
    )

    # Missing figures and why: Telegram gives none, Facebook no views, some were never collected.
    missing = {(row[0], row[1]): row[2] for row in t["missing"][1:] if len(row) == 3}
    never = [s for s in served.values() if s[2] is None]
    telegram = sum(1 for _, tg, s in served.values() if tg == "telegram" and s is not None)
    assert missing[("telegram", "сеть их не отдаёт: not available from the Bot API")] == str(telegram)
    assert sum(int(c) for (_, why), c in missing.items() if why == "ещё не собраны") == len(never) > 0

    # Charts: one inline SVG per chart, no external resources.
    for name in ("networks", "rubrics", "authors", "mentions"):
        assert f'<figure id="chart-{name}"><svg' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://www.w3.org/1999/xlink", ""
    ).replace("http://purl.org/dc", "").replace("http://creativecommons.org/ns#", "").replace(
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#", ""
    )
    assert "<script" not in html and "<img" not in html and "<link" not in html


def test_report_in_english_and_without_charts(
    november: tuple[Store, World, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "available", lambda: False)
    assert main(["report", "--month", "2026-11", "--out", str(tmp_path), "--language", "en"]) == 0
    html = (tmp_path / "report-2026-11.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Round-table report for November 2026" in html
    # not "pip install 'publisher[report]'": the package is not on PyPI, it is installed from its checkout
    assert "<svg" not in html and "extra (matplotlib)" in html and "docs/install.md, step 2" in html


def test_an_empty_month_and_a_bad_month(november: tuple[Store, World, World], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["report", "--month", "2027-02", "--out", str(tmp_path), "--language", "ru"]) == 0
    assert "В этом месяце постов не было." in (tmp_path / "report-2027-02.html").read_text(encoding="utf-8")
    assert main(["report", "--month", "2026-13", "--out", str(tmp_path)]) == 2
    assert "write it as YYYY-MM" in capsys.readouterr().err


def test_a_newer_snapshot_changes_the_report(november: tuple[Store, World, World], tmp_path: Path) -> None:
    store, world, _ = november
    delivery_id, (_post, _target, snap) = next((k, v) for k, v in world.served.items() if v[1] == "vk")
    assert snap is not None
    store.record_snapshots([(delivery_id, Snapshot(snap.remote_id, snap.taken_at, views=987654, likes=1))])
    assert main(["report", "--month", "2026-11", "--out", str(tmp_path), "--language", "ru"]) == 0
    page = Tables()
    page.feed((tmp_path / "report-2026-11.html").read_text(encoding="utf-8"))
    assert page.sections["top"][1][4] == ru(987654) and page.sections["top"][1][0] == "Пост номер 0"
