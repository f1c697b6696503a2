"""deploy/publisher.service: systemd accepts it, it is hardened, and it matches our settings.

``systemd-analyze verify`` insists that ExecStart's binary exists and is executable; the real one
(/opt/publisher/venv/bin/publisher) exists only on an installed server, so the checks run on a copy
whose ExecStart points at a stub script in a temporary directory. Nothing else is changed in the copy.
Where ``systemd-analyze`` is not installed those two tests skip and say so; the static checks still run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from publisher.settings import HttpTimeouts, Settings, load_settings

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "publisher.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed: unit file checks by systemd skipped"
)
#: systemd's labels: PERFECT 0.0, SAFE < 1.0, OK < 5.0, MEDIUM < 7.5, EXPOSED < 9.0, UNSAFE, DANGEROUS.
#: Exposure is printed with one decimal, so 4.9 is the worst figure still labelled "OK".
OK_THRESHOLD = 4.9


@dataclass
class Line:
    section: str
    key: str
    value: str
    number: int
    explained: bool  # the block of lines it sits in starts with a comment


def parse_unit(text: str) -> list[Line]:
    """Unit files allow repeated keys (LoadCredential=), which configparser does not: parse by hand."""
    lines: list[Line] = []
    section = ""
    block_has_comment = False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            block_has_comment = False
        elif stripped.startswith(("#", ";")):
            block_has_comment = True
        elif stripped.startswith("["):
            section = stripped.strip("[]")
            block_has_comment = False
        else:
            key, _, value = stripped.partition("=")
            lines.append(Line(section, key, value, number, block_has_comment))
    return lines


def values(lines: list[Line], key: str, section: str = "Service") -> list[str]:
    return [line.value for line in lines if line.key == key and line.section == section]


def seconds(value: str) -> float:
    """The subset of systemd.time(7) spans the unit uses: 90, 90s, 3min, 1h."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|min|m|h)?", value)
    assert match, f"unexpected time span {value!r}"
    factor = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * factor


@pytest.fixture(scope="module")
def unit() -> list[Line]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def test_every_setting_has_a_reason(unit: list[Line]) -> None:
    bare = [f"line {line.number}: {line.key}=" for line in unit if not line.explained]
    assert not bare, "settings without a comment above them: " + ", ".join(bare)


def test_service_lifecycle_settings(unit: list[Line]) -> None:
    assert values(unit, "Type") == ["notify"]
    assert values(unit, "NotifyAccess") == ["main"]
    assert values(unit, "Restart") == ["on-failure"]
    assert seconds(values(unit, "RestartSec")[0]) > 0
    watchdog = seconds(values(unit, "WatchdogSec")[0])
    assert 10 <= watchdog <= 300
    # Shutdown must leave an in-flight HTTP exchange time to reach its own deadline and be recorded.
    assert seconds(values(unit, "TimeoutStopSec")[0]) > HttpTimeouts().total
    assert values(unit, "ExecStart") == ["/opt/publisher/venv/bin/publisher run"]
    assert values(unit, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values(unit, "WantedBy", section="Install") == ["multi-user.target"]


def test_state_lives_in_the_state_directory(unit: list[Line]) -> None:
    assert values(unit, "StateDirectory") == ["publisher"]
    env = dict(v.split("=", 1) for v in values(unit, "Environment"))
    assert env["PUBLISHER_DATA_DIR"] == "/var/lib/publisher"
    assert env["PUBLISHER_SETTINGS_FILE"] == "/etc/publisher/settings.env"
    # Tokens come from credentials, never from an environment that children inherit.
    assert not [k for k in env if "TOKEN" in k or "SECRET" in k or "PASSWORD" in k]


def test_credentials_are_named_like_the_settings_they_fill(
    unit: list[Line], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each LoadCredential= ID, dropped into $CREDENTIALS_DIRECTORY, must fill a secret setting."""
    credentials = values(unit, "LoadCredential")
    assert credentials, "no LoadCredential= lines"
    creds_dir = tmp_path / "credentials"
    creds_dir.mkdir()
    expected: dict[str, str] = {}
    for entry in credentials:
        name, _, source = entry.partition(":")
        assert source == f"/etc/publisher/credentials/{name}", entry
        value = f"test-{name.lower()}-value"
        (creds_dir / name).write_text(value + "\n", encoding="utf-8")
        expected[name] = value
    monkeypatch.chdir(tmp_path)  # no ./settings.env from the developer's checkout
    monkeypatch.delenv("PUBLISHER_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds_dir))
    settings = load_settings()
    for name, value in expected.items():
        node: object = settings
        for part in name.removeprefix("PUBLISHER_").lower().split("__"):
            node = getattr(node, part)
        secret = getattr(node, "get_secret_value", None)
        assert secret is not None, f"{name} does not name a secret setting"
        assert secret().strip() == value, name
    assert isinstance(settings, Settings)


def test_hardening_is_declared(unit: list[Line]) -> None:
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures": "native",
    }.items():
        assert values(unit, key) == [value], key
    assert "@system-service" in values(unit, "SystemCallFilter")


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable stub (verify checks that it exists)."""
    stub = tmp_path / "publisher-stub"
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    text = UNIT.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^ExecStart=\S+", f"ExecStart={stub}", text)
    assert count == 1
    copy = tmp_path / "publisher.service"
    copy.write_text(text, encoding="utf-8")
    return copy


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False, env={"LANG": "C.UTF-8"}
    )


@needs_analyze
def test_systemd_analyze_verify_is_clean(unit_copy: Path) -> None:
    result = _analyze("verify", str(unit_copy))
    assert result.returncode == 0, result.stderr
    # verify only warns (exit 0) about unknown keys and bad values: any output at all is a failure.
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr + result.stdout


@needs_analyze
def test_verify_would_report_a_mistake(unit_copy: Path) -> None:
    """Guards the test above: a misspelt key does produce output, so silence means a clean unit."""
    unit_copy.write_text(
        unit_copy.read_text(encoding="utf-8").replace("ProtectHome=yes", "ProtectHomes=yes"),
        encoding="utf-8",
    )
    result = _analyze("verify", str(unit_copy))
    assert "ProtectHomes" in result.stderr


@needs_analyze
def test_security_exposure_is_ok_or_better(unit_copy: Path) -> None:
    result = _analyze("security", "--offline=true", "--no-pager", str(unit_copy))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d) (\w+)", result.stdout)
    assert match, f"no overall exposure in the output:\n{result.stdout}\n{result.stderr}"
    exposure, label = float(match.group(1)), match.group(2)
    print(f"systemd-analyze security: exposure {exposure} {label}")
    assert exposure <= OK_THRESHOLD, f"exposure {exposure} ({label}) is worse than OK"
    assert label in {"OK", "SAFE", "PERFECT"}


_MDWE_PROBE = """
import ctypes, mmap, sqlite3, ssl, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
    print("unsupported"); sys.exit(0)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("not enforced"); sys.exit(0)
except OSError:
    pass
ssl.create_default_context()
sqlite3.connect(":memory:").execute("create table t(x)")
compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
numbers = (ctypes.c_int * 3)(3, 1, 2)
libc.qsort(numbers, 3, ctypes.sizeof(ctypes.c_int), compare(lambda a, b: a[0] - b[0]))
assert list(numbers) == [1, 2, 3]
import requests, sqlalchemy, pydantic, psycopg, tweepy, vk_api, apscheduler, yaml
import publisher.settings, publisher.adapters.base, publisher.ops.sdnotify
print("ok")
"""


def test_the_stack_runs_without_writable_executable_memory() -> None:
    """MemoryDenyWriteExecute=yes is safe: the kernel's own W^X switch (PR_SET_MDWE, what systemd's
    seccomp filter enforces) leaves TLS, SQLite, a ctypes callback and every dependency working."""
    result = subprocess.run(
        [sys.executable, "-c", _MDWE_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() != "ok":
        pytest.skip(f"kernel W^X switch {result.stdout.strip()}: cannot check MemoryDenyWriteExecute=yes")
