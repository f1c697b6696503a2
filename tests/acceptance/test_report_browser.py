"""The report page in a real browser: headless Chromium (Debian's ``chromium``) renders its charts.

``.ci/run`` installs chromium when it is missing; elsewhere the test is skipped with a message.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from publisher.metrics.charts import COLOURS
from publisher.metrics.report import month_of, write_report
from publisher.settings import Settings
from publisher.store import Store
from tests.metrics_world import ENTITIES, RUBRICS, World, build, month_start

pytestmark = pytest.mark.browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("browser test skipped: no chromium here (apt-get install chromium; .ci/run does)")


def headless(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def test_the_report_page_renders_its_charts(tmp_path: Path) -> None:
    browser = chromium()
    store = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    build(store, World(), month_start(2026, 10), 6, seed=3, key="o")
    build(store, World(), month_start(2026, 11), 15, seed=5, key="n")
    zone = Settings().zone
    html_path, _ = write_report(
        store, month_of(2026, 11, zone), tmp_path, zone=zone, language="ru", now=month_start(2026, 12)
    )
    store.close()
    url = html_path.resolve().as_uri()

    dom = headless(browser, "--dump-dom", url).stdout
    # Likes + reposts + comments per network, this month and the one before (Telegram gives none): 3 x 2;
    # median views per rubric: 5; views per author: 3; with / without each of the 6 mentions: 12.
    expected = {"networks": 6, "rubrics": len(RUBRICS), "authors": 3, "mentions": 2 * len(ENTITIES)}
    for chart, count in expected.items():
        bars = re.findall(rf'<g id="bar-{chart}-\d+">\s*<path d="([^"]+)"', dom)
        assert len(bars) == count, (chart, len(bars))
        widths = [_width(d) for d in bars]
        assert all(w > 0 for w in widths), (chart, widths)

    shot = tmp_path / "report.png"
    headless(browser, f"--screenshot={shot}", "--window-size=1000,5000", url)
    from PIL import Image

    with Image.open(shot) as image:
        counts = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    colours = {_rgb(c) for c in COLOURS}
    drawn = sum(n for n, rgb in counts if rgb in colours)
    # The charts' bars are there in both colours, not a blank page.
    assert drawn > 10_000, drawn


def _width(path: str) -> float:
    xs = [float(x) for x in re.findall(r"(?:M|L) ([\d.]+) [\d.]+", path)]
    return max(xs) - min(xs) if xs else 0.0


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
