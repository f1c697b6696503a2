"""The monthly round-table report: one self-contained HTML page (tables and inline SVG charts) and a CSV.

The page needs nothing from the network to open or print: styles are inline, charts are SVG elements in
the page, there are no scripts, fonts or images to fetch. ``@page`` sets A4 so the browser's print dialog
gives clean pages. The CSV has one row per delivery with its figures (English column names, so
spreadsheets and scripts can rely on them; UTF-8 with a byte-order mark so spreadsheet programs read
Cyrillic correctly).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.errors import InputError
from publisher.i18n import N_
from publisher.metrics import charts
from publisher.metrics.figures import (
    FEW,
    Missing,
    MonthFigures,
    engagement,
    interactions,
    month_figures,
    views,
)
from publisher.metrics.markup import Raw, e, link, note, para, section, table
from publisher.metrics.texts import Translate, lang_code, month_name, number, percent, translator
from publisher.models import FIGURES
from publisher.store import MetricsRow, Store

CSV_COLUMNS = (
    "delivery",
    "post",
    "title",
    "rubric",
    "author",
    "mentions",
    "target",
    "network",
    "published_at",
    "url",
    *FIGURES,
    "engagement_rate",
    "figures_taken_at",
    "available",
    "reason",
)


@dataclass(frozen=True)
class Month:
    """A calendar month in the service's time zone, as UTC bounds."""

    year: int
    month: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(value: str, zone: ZoneInfo) -> Month:
    """``2026-11`` -> that month in ``zone``; an ``InputError`` names the fix otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError("--month", "", f"{value!r} is not a month", "write it as YYYY-MM, e.g. 2026-11")
    return month_of(int(match.group(1)), int(match.group(2)), zone)


def month_of(year: int, month: int, zone: ZoneInfo) -> Month:
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return Month(year, month, start.astimezone(UTC), end.astimezone(UTC))


def previous(m: Month, zone: ZoneInfo) -> Month:
    return month_of(m.year - (m.month == 1), (m.month - 2) % 12 + 1, zone)


@dataclass(frozen=True)
class Report:
    month: Month
    figures: MonthFigures
    html: str
    csv: str


def build_report(store: Store, month: Month, *, zone: ZoneInfo, language: str, now: datetime) -> Report:
    rows = store.metrics_rows(published_from=month.start, published_to=month.end)
    before = previous(month, zone)
    prior = store.metrics_rows(published_from=before.start, published_to=before.end)
    figures = month_figures(rows, prior)
    page = _Page(figures, month, zone, language, now)
    return Report(month, figures, page.render(), csv_text(rows, zone))


def write_report(
    store: Store, month: Month, out_dir: Path, *, zone: ZoneInfo, language: str, now: datetime
) -> tuple[Path, Path]:
    """Write ``report-YYYY-MM.html`` and ``.csv`` into ``out_dir`` (created if needed); return both paths."""
    report = build_report(store, month, zone=zone, language=language, now=now)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"report-{month.label}.html"
    csv_path = out_dir / f"report-{month.label}.csv"
    html_path.write_text(report.html, encoding="utf-8")
    csv_path.write_text(report.csv, encoding="utf-8-sig", newline="")
    return html_path, csv_path


def csv_text(rows: Sequence[MetricsRow], zone: ZoneInfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        s = r.snapshot
        rate = engagement(r)
        writer.writerow(
            [
                r.delivery_id,
                r.post_id,
                r.facts.title,
                r.facts.rubric or "",
                r.facts.author,
                ";".join(r.facts.mentions),
                r.target,
                r.network,
                r.published_at.astimezone(zone).isoformat(timespec="minutes"),
                r.url or "",
                *[("" if s is None or getattr(s, f) is None else getattr(s, f)) for f in FIGURES],
                "" if rate is None else f"{rate:.4f}",
                s.taken_at.astimezone(zone).isoformat(timespec="minutes") if s else "",
                "" if s is None else ("yes" if s.available else "no"),
                "dry run" if r.dry_run else (s.reason if s else "not collected yet"),
            ]
        )
    return out.getvalue()


STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt; color: #111;
       max-width: 190mm; margin: 1.5em auto; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 .2em; } h2 { font-size: 13pt; margin: 1.4em 0 .4em; break-after: avoid; }
p.meta, p.note { color: #444; font-size: 9.5pt; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 .8em; font-size: 9.5pt; }
th, td { border-bottom: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } td.n { white-space: nowrap; }
tr { break-inside: avoid; }
figure { margin: .3em 0 1em; break-inside: avoid; } figure svg { width: 100%; height: auto; }
section { break-inside: auto; }
a { color: #1f5fa8; }
"""


class _Page:
    """Writes the HTML of one month's figures; every text goes through the translation function."""

    def __init__(self, f: MonthFigures, month: Month, zone: ZoneInfo, language: str, now: datetime) -> None:
        self.f, self.month, self.zone, self.language, self.now = f, month, zone, language, now
        self._: Translate = translator(language)

    def n(self, value: float | None, digits: int = 0) -> str:
        return number(value, self.language, digits)

    def render(self) -> str:
        _ = self._
        title = _("Round-table report for {month}").format(
            month=month_name(self.language, self.month.year, self.month.month)
        )
        when = self.now.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") + f" ({self.zone.key})"
        made = _(
            "Made {when}. Figures are the newest collected for each post; a post counts once per network."
        )
        parts = [
            f'<!DOCTYPE html>\n<html lang="{lang_code(self.language)}">\n<head>\n<meta charset="utf-8">',
            f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
            f"<h1>{e(title)}</h1>",
            para(made.format(when=when), "meta"),
        ]
        if not self.f.rows:
            parts.append(para(_("No posts were published this month.")))
        else:
            parts += [self.summary(), self.networks(), self.rubrics(), self.authors(), self.mentions()]
            parts += [self.ranked(), self.missing()]
        parts.append("</body>\n</html>\n")
        return "\n".join(parts)

    def summary(self) -> str:
        real = [r for r in self.f.rows if not r.dry_run]
        total_views = sum(v for r in real if (v := views(r)) is not None)
        total_inter = sum(i for r in real if (i := interactions(r)) is not None)
        _ = self._
        text = _(
            "{posts} posts on {networks} networks, {views} views, {interactions} likes, reposts and comments."
        )
        return (
            "<p>"
            + e(
                text.format(
                    posts=self.n(len(real)),
                    networks=len({r.network for r in real}),
                    views=self.n(total_views),
                    interactions=self.n(total_inter),
                )
            )
            + "</p>"
        )

    def chart(self, name: str, labels: list[str], series: list[tuple[str, list[float]]], title: str) -> str:
        if not charts.available():
            return note(self._(NO_CHARTS))  # marked with N_ where it is defined
        if not labels:
            _ = self._
            return note(_("Not enough data for a chart."))
        return (
            f'<figure id="chart-{name}">' + charts.bar_chart(name, labels, series, title=title) + "</figure>"
        )

    def networks(self) -> str:
        _ = self._
        head = [
            _("Network"),
            _("Posts"),
            _("Views"),
            _("Views, previous month"),
            _("Change"),
            _("Likes, reposts, comments"),
            _("Change"),
            _("Engagement"),
        ]
        body = [
            [
                t.network,
                self.n(t.now.posts),
                self.n(t.now.total_views if t.now.with_views else None),
                self.n(t.before.total_views if t.before.with_views else None),
                percent(t.views_change, self.language, signed=True),
                self.n(t.now.interactions),
                percent(t.interactions_change, self.language, signed=True),
                percent(t.now.engagement, self.language),
            ]
            for t in self.f.networks
        ]
        shown = [t for t in self.f.networks if t.now.interactions or t.before.interactions]
        chart = self.chart(
            "networks",
            [t.network for t in shown],
            [
                (_("this month"), [float(t.now.interactions) for t in shown]),
                (_("previous month"), [float(t.before.interactions) for t in shown]),
            ],
            _("Likes, reposts and comments: this month and the previous one"),
        )
        note = para(
            _("Engagement = (likes + reposts + comments) / views, over the posts whose network gives views."),
            "note",
        )
        return section("networks", _("Networks"), table(head, body, numeric_from=1) + note + chart)

    def groups(self, name: str, heading: str, key_header: str, chart_of: str) -> str:
        _ = self._
        groups = self.f.rubrics if name == "rubrics" else self.f.authors
        head = [key_header, _("Posts"), _("Median views"), _("Total views"), _("Engagement")]
        body = [
            [
                g.key,
                self.n(g.posts),
                self.n(g.median_views) + (" *" if g.few and g.with_views else ""),
                self.n(g.total_views if g.with_views else None),
                percent(g.engagement, self.language),
            ]
            for g in groups
        ]
        shown = [g for g in groups if g.with_views]
        values = [float((g.median_views or 0) if name == "rubrics" else g.total_views) for g in shown]
        chart = self.chart(name, [g.key for g in shown], [(_("Views"), values)], chart_of)
        return section(name, heading, table(head, body, numeric_from=1) + chart)

    def rubrics(self) -> str:
        _ = self._
        return self.groups("rubrics", _("Rubrics"), _("Rubric"), _("Median views per rubric"))

    def authors(self) -> str:
        _ = self._
        return self.groups("authors", _("Authors"), _("Author"), _("Total views per author"))

    def mentions(self) -> str:
        _ = self._
        effects = self.f.mentions
        note = _(
            "Median views of posts that mention a faculty or account, against posts of the same network and rubric that do not. The number of posts behind each median is beside it; a figure marked * rests on fewer than {few} posts and means little."
        )
        head = [_("Mentioned"), _("Posts"), _("With the mention"), _("Without it"), _("Ratio")]
        posts = _("posts")
        body = [
            [
                m.entity,
                self.n(m.posts),
                f"{self.n(m.median_with)} ({m.with_views} {posts})" + (" *" if m.with_views < FEW else ""),
                f"{self.n(m.median_without)} ({m.without_views} {posts})"
                + (" *" if m.without_views < FEW else ""),
                self.n(m.ratio, 2) if m.ratio is not None else "–",
            ]
            for m in effects
        ]
        shown = [m for m in effects if m.median_with is not None and m.median_without is not None]
        chart = self.chart(
            "mentions",
            [m.entity for m in shown],
            [
                (_("With the mention"), [float(m.median_with or 0) for m in shown]),
                (_("Without it"), [float(m.median_without or 0) for m in shown]),
            ],
            _("Median views with and without the mention"),
        )
        text = f'<p class="note">{e(note.format(few=FEW))}</p>'
        return section("mentions", _("Mentions"), text + table(head, body, numeric_from=1) + chart)

    def post_rows(self, rows: list[MetricsRow]) -> str:
        _ = self._
        head = [_("Post"), _("Network"), _("Rubric"), _("Published"), _("Views"), _("Engagement"), _("Link")]
        body = [
            [
                r.facts.title,
                r.target,
                r.facts.rubric or _("no rubric"),
                r.published_at.astimezone(self.zone).strftime("%d.%m %H:%M"),
                self.n(views(r)),
                percent(engagement(r), self.language),
                Raw(link(r.url, _("open"))),
            ]
            for r in rows
        ]
        return table(head, body, numeric_from=4)

    def ranked(self) -> str:
        _ = self._
        return section("top", _("Top 10 posts by views"), self.post_rows(self.f.top)) + section(
            "bottom", _("Bottom 10 posts by views"), self.post_rows(self.f.bottom)
        )

    def why(self, m: Missing) -> str:
        _ = self._
        label = {
            "dry_run": _("dry run: nothing was published"),
            "not_collected": _("not collected yet"),
            "unavailable": _("not available from the network"),
            "partial": _("some figures missing"),
        }[m.why]
        return f"{label}: {m.detail}" if m.detail else label

    def missing(self) -> str:
        _ = self._
        if not self.f.missing:
            return section("missing", _("Missing figures"), para(_("Nothing is missing.")))
        counts: dict[tuple[str, str], int] = {}
        for m in self.f.missing:
            key = (m.row.network, self.why(m))
            counts[key] = counts.get(key, 0) + 1
        summary = table(
            [_("Network"), _("Reason"), _("Count")],
            [[net, reason, self.n(c)] for (net, reason), c in sorted(counts.items())],
            numeric_from=2,
        )
        pending = [m.row for m in self.f.missing if m.why == "not_collected"]
        detail = ""
        if pending:
            detail = para(_("No figures were collected for these posts yet.")) + self.post_rows(pending)
        return section("missing", _("Missing figures"), summary + detail)


NO_CHARTS = N_(
    "Charts need the optional 'report' extra (matplotlib): the operator installs it into the service's "
    "environment as docs/install.md, step 2, says."
)
