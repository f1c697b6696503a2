"""One post written once reaches all five networks in each one's syntax; the log shows where it went."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_helpers import base_env, run_cli
from tests.fakes import FAKES, NetworkFake
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.media import jpeg_bytes

VK_TOKEN = "vk1.a.e2e-token-0123456789abcdef"
X_CREDS = ("e2e-consumer-key", "e2e-consumer-secret", "e2e-access-token", "e2e-access-secret")

POST = """---
networks: [vk, x, facebook, telegram, instagram]
approved_by: редактор дня
rubric: древняядичь
mentions: [bntu, brsm]
media: [poster.jpg]
---
Студенты @fitr и @fmmp листали инкунабулы в отделе редких книг.
"""


#: what makes each fake accept the service's credentials (the others make their own)
FAKE_ARGUMENTS: dict[str, dict[str, str]] = {
    "vk": {"token": VK_TOKEN},
    "x": dict(
        zip(("consumer_key", "consumer_secret", "access_token", "access_token_secret"), X_CREDS, strict=True)
    ),
}
#: how each network writes the mention of @fitr (the directory's handle or name for it)
FITR = {
    "vk": "[club12345|ФИТР БНТУ]",
    "x": "@fitr_bntu",
    "facebook": "ФИТР БНТУ",
    "telegram": "@fitr_bntu",
    "instagram": "@fitr.bntu",
}


@pytest.fixture
def fakes() -> Iterator[dict[str, NetworkFake]]:
    fakes = {name: FAKES[name](**FAKE_ARGUMENTS.get(name, {})) for name in FITR}
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


def network_env(tmp_path: Path, fakes: dict[str, NetworkFake]) -> dict[str, str]:
    env: dict[str, str] = {}
    for fake in fakes.values():
        env.update(fake.service_env())
    return base_env(tmp_path, **env)


def write_post(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "poster.jpg").write_bytes(jpeg_bytes(7))
    path = folder / "incunabula.md"
    path.write_text(POST, encoding="utf-8")
    return path


def test_preview_shows_each_networks_text_limits_and_mentions(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    path = write_post(tmp_path / "drafts")
    result = run_cli(env, "preview", str(path), "--json")
    assert result.returncode == 0, result.stderr
    renders = {r["target"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(renders) == {"vk", "x", "facebook", "telegram", "instagram"}
    assert "@fitr.bntu" in renders["instagram"]["text"] and renders["instagram"]["limit"] == 2200
    assert "[club12345|ФИТР БНТУ]" in renders["vk"]["text"] and "#древняядичь" in renders["vk"]["text"]
    assert "@fitr_bntu" in renders["x"]["text"] and renders["x"]["limit"] == 280
    assert "ФИТР БНТУ" in renders["facebook"]["text"] and "@" not in renders["facebook"]["text"].split("#")[0]
    assert "@fitr_bntu" in renders["telegram"]["text"] and renders["telegram"]["limit"] == 1024  # caption
    for r in renders.values():
        assert r["length"] <= r["limit"] and r["media"] == ["poster.jpg"]
    # An entity without a handle on a network falls back to its name, and preview says so.
    assert any("fmmp" in w or "ФММП" in w for w in renders["x"]["warnings"])
    human = run_cli(env, "preview", str(path))
    assert human.returncode == 0 and "=== x:" in human.stdout and "/280" in human.stdout


def test_post_reaches_all_five_networks_and_log_shows_urls(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    env = network_env(tmp_path, fakes)
    path = write_post(tmp_path / "var" / "inbox")
    assert path.exists()
    result = run_cli({**env, "PUBLISHER_INBOX_SETTLE_SECONDS": "0"}, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    log = [
        json.loads(line)
        for line in run_cli(env, "log", "--json", "--status", "published").stdout.splitlines()
    ]
    urls = {e["target"]: e["url"] for e in log}
    assert urls["vk"].startswith("https://vk.com/wall-123_")
    assert urls["x"].startswith("https://x.com/bntu_library/status/")
    assert urls["facebook"].startswith("https://www.facebook.com/")
    assert urls["telegram"].startswith("https://t.me/library_news/")
    assert urls["instagram"].startswith("https://www.instagram.com/p/")
    # Each network holds the post the log names, in its own syntax, with the image.
    poster = jpeg_bytes(7)
    for target, mention in FITR.items():
        (post,) = fakes[target].posts
        (entry,) = [e for e in log if e["target"] == target]
        assert post.remote_id == entry["remote_id"]
        assert mention in post.text and post.media == (poster,), (target, post)
    human = run_cli(env, "log")
    assert "https://vk.com/wall-123_" in human.stdout


def test_check_reports_each_target_and_fails_on_a_bad_token(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    env = network_env(tmp_path, fakes)
    ok = run_cli(env, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for target in ("vk", "x", "facebook", "telegram", "instagram"):
        assert any(line.startswith(target) and " ok " in line for line in ok.stdout.splitlines()), ok.stdout
    bad = run_cli({**env, "PUBLISHER_TELEGRAM__BOT_TOKEN": "1:revoked-token-xyz"}, "check")
    assert bad.returncode == 1
    line = next(line for line in bad.stdout.splitlines() if line.startswith("telegram"))
    assert "FAIL" in line and "revoked-token-xyz" not in bad.stdout + bad.stderr


def test_named_extra_account_is_its_own_target(tmp_path: Path, fakes: dict[str, NetworkFake]) -> None:
    tg = fakes["telegram"]
    assert isinstance(tg, FakeTelegram)
    tg.add_chat(FakeChat(id=-1005550001, username="fitr_news"))
    env = {**network_env(tmp_path, fakes), "PUBLISHER_TELEGRAM__ACCOUNTS__FITR__CHAT_ID": "@fitr_news"}
    folder = tmp_path / "drafts"
    folder.mkdir()
    path = folder / "share.md"
    path.write_text(
        "---\nnetworks: [telegram, telegram:fitr]\napproved_by: ред\n---\nДень открытых дверей\n",
        encoding="utf-8",
    )
    assert run_cli(env, "enqueue", str(path)).returncode == 0
    assert run_cli(env, "run", "--once").returncode == 0
    urls = {
        e["target"]: e["url"]
        for e in map(json.loads, run_cli(env, "log", "--json", "--status", "published").stdout.splitlines())
    }
    assert urls["telegram"].startswith("https://t.me/library_news/")
    assert urls["telegram:fitr"].startswith("https://t.me/fitr_news/")
    path.write_text("---\nnetworks: [telegram:nope]\napproved_by: ред\n---\nТекст\n", encoding="utf-8")
    bad = run_cli(env, "enqueue", str(path))
    assert bad.returncode == 2 and "telegram:nope" in bad.stderr
