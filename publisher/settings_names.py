"""Where the settings are read from, importable without pydantic: the command line reads its language from
there before anything else is loaded (``publisher.cli.language``), so ``--help`` starts in a tenth of a second."""

from __future__ import annotations

from pathlib import Path

#: every setting's environment variable starts with this (``PUBLISHER_DATABASE_URL``)
ENV_PREFIX = "PUBLISHER_"
#: the settings file read when neither ``--settings`` nor ``PUBLISHER_SETTINGS_FILE`` names one
DEFAULT_SETTINGS_FILE = Path("settings.env")
