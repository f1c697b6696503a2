"""The few HTML pieces the monthly report is built from, every text escaped unless it is ``Raw`` markup."""

from __future__ import annotations

import html
from collections.abc import Sequence


class Raw(str):
    """Markup that ``table`` must not escape (a link built by ``link``)."""


def note(text: str) -> str:
    return para(text, "note")


def para(text: str, cls: str = "") -> str:
    """One paragraph of (escaped) text, with an optional class."""
    attribute = f' class="{cls}"' if cls else ""
    return f"<p{attribute}>{e(text)}</p>"


def e(text: str) -> str:
    return html.escape(text, quote=True)


def link(url: str | None, label: str) -> str:
    if not url or not url.startswith(("https://", "http://")):
        return "–"
    return f'<a href="{e(url)}">{e(label)}</a>'


def table(head: Sequence[str], body: Sequence[Sequence[object]], *, numeric_from: int) -> str:
    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="n"' if i >= numeric_from else ""
        text = value if isinstance(value, Raw) else e(str(value))
        return f"<{tag}{cls}>{text}</{tag}>"

    rows = ["<tr>" + "".join(cell("th", i, h) for i, h in enumerate(head)) + "</tr>"]
    rows += ["<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in body]
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def section(name: str, heading: str, content: str) -> str:
    return f'<section id="{name}">\n<h2>{e(heading)}</h2>\n{content}\n</section>'
