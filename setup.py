"""Only a build step the declarative configuration cannot express: compile the gettext catalogs.

Everything else is in pyproject.toml. The ``.po`` files are the source kept in git; a built wheel carries the
``.mo`` next to each (``publisher.i18n`` compiles a ``.po`` in memory when its ``.mo`` is missing, so a source
checkout and an editable install work too).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    """``build_py`` that also writes ``locale/*/LC_MESSAGES/publisher.mo`` into the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the package is used in place: publisher.i18n compiles on first use
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path("publisher/locale").glob("*/LC_MESSAGES/*.po"):
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source)
            with target.open("wb") as out:
                write_mo(out, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildWithCatalogs})
