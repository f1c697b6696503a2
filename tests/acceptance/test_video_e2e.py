"""A post with a video goes to VK, X, Facebook and Telegram through the daemon, in each API's documented
upload steps, and the publish log records each id and URL; an animated GIF goes to X as ``tweet_gif`` and to
Telegram by ``sendAnimation``; a daemon stopping in the middle of an upload gives the delivery back cleanly (queued, nothing in doubt)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_helpers import DaemonProcess, base_env, run_cli
from tests.fakes import FAKES, NetworkFake
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fakes.vk import FakeVk
from tests.fakes.x import FakeX
from tests.helpers import wait_until
from tests.media import gif_bytes, mp4_bytes

VK_TOKEN = "vk1.a.e2e-video-token-0123456789"
X_CREDS = ("e2e-consumer-key", "e2e-consumer-secret", "e2e-access-token", "e2e-access-secret")
ARGUMENTS: dict[str, dict[str, str]] = {
    "vk": {"token": VK_TOKEN},
    "x": dict(
        zip(("consumer_key", "consumer_secret", "access_token", "access_token_secret"), X_CREDS, strict=True)
    ),
}
#: larger than one X segment (4 MB), under Telegram's 50 MB and Facebook's simple-upload bound
VIDEO = mp4_bytes(42.0, 1280, 720, size=4_500_000)


@pytest.fixture
def fakes() -> Iterator[dict[str, NetworkFake]]:
    fakes = {name: FAKES[name](**ARGUMENTS.get(name, {})) for name in ("vk", "x", "facebook", "telegram")}
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


def environment(tmp_path: Path, fakes: dict[str, NetworkFake], **extra: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for fake in fakes.values():
        env.update(fake.service_env())
    return base_env(tmp_path, PUBLISHER_INBOX_SETTLE_SECONDS="0", **env, **extra)


def drop(tmp_path: Path, name: str, networks: str, media: str, data: bytes) -> None:
    inbox = tmp_path / "var" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / media).write_bytes(data)
    front = f"---\nnetworks: [{networks}]\napproved_by: редактор дня\nmedia: [{media}]\n---\n"
    (inbox / f"{name}.md").write_text(front + "Экскурсия по отделу редких книг.\n", encoding="utf-8")


def published(env: dict[str, str]) -> dict[str, dict[str, str]]:
    lines = run_cli(env, "log", "--json", "--status", "published").stdout.splitlines()
    return {e["target"]: e for e in map(json.loads, lines)}


def test_a_video_reaches_all_four_networks_in_their_documented_steps(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    env = environment(tmp_path, fakes)
    drop(tmp_path, "tour", "vk, x, facebook, telegram", "tour.mp4", VIDEO)
    result = run_cli(env, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    log = published(env)
    assert set(log) == {"vk", "x", "facebook", "telegram"}, result.stderr
    for target, fake in fakes.items():
        (post,) = fake.posts
        assert post.media == (VIDEO,) and post.remote_id == log[target]["remote_id"], target

    x, vk, facebook, telegram = fakes["x"], fakes["vk"], fakes["facebook"], fakes["telegram"]
    assert isinstance(x, FakeX) and isinstance(vk, FakeVk)
    assert isinstance(facebook, FakeFacebook) and isinstance(telegram, FakeTelegram)
    # X: initialize, an append per 4 MB segment (two), finalize, then STATUS until processing succeeded.
    assert [s[0] for s in x.steps] == ["initialize", "append", "append", "finalize", "status", "status"]
    assert x.media[x.tweets[0]["media_ids"][0]]["category"] == "tweet_video"
    # VK: video.save to the community (not posted by itself), the upload, then wall.post attaching it.
    (save, params), (upload, video_id) = vk.video_steps
    assert (save, upload, params["wallpost"]) == ("save", "upload", "0")
    assert vk.wall[0].attachments == [f"video-{vk.group_id}_{video_id}"]
    # Facebook: /{page}/videos with the text as description; Telegram: sendVideo.
    assert [s[0] for s in facebook.video_steps] == ["simple"]
    assert facebook.posts[0].text.startswith("Экскурсия по отделу редких книг.")
    assert any(r.path.endswith("/sendVideo") for r in telegram.requests)
    urls = {target: entry["url"] for target, entry in log.items()}
    assert urls["vk"].startswith("https://vk.com/wall-123_")
    assert urls["x"].startswith("https://x.com/bntu_library/status/")
    assert (
        urls["facebook"]
        == f"https://www.facebook.com/{facebook.page_id}/videos/{log['facebook']['remote_id']}"
    )
    assert urls["telegram"].startswith("https://t.me/library_news/")


def test_an_animated_gif_goes_to_x_as_tweet_gif_and_to_telegram_as_an_animation(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    env = environment(tmp_path, fakes)
    loop = gif_bytes(frames=6)
    drop(tmp_path, "loop", "x, telegram", "loop.gif", loop)
    assert run_cli(env, "run", "--once").returncode == 0
    x, telegram = fakes["x"], fakes["telegram"]
    assert isinstance(x, FakeX) and isinstance(telegram, FakeTelegram)
    (tweet,) = x.tweets
    assert x.media[tweet["media_ids"][0]]["category"] == "tweet_gif"
    log = published(env)
    assert log["x"]["remote_id"] == tweet["id"]
    (message,) = telegram.channel.messages
    assert "animation" in message and "photo" not in message
    assert telegram.posts[0].media == (loop,)
    assert log["telegram"]["remote_id"] == str(message["message_id"])
    assert log["telegram"]["url"] == f"https://t.me/library_news/{message['message_id']}"


def test_a_daemon_stopped_during_an_upload_releases_the_delivery(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    x = fakes["x"]
    assert isinstance(x, FakeX)
    x.check_after_secs = 600  # X keeps "processing": the upload is under way when the daemon is told to stop
    x.processing_polls = 1000
    env = environment(tmp_path, fakes)
    drop(tmp_path, "tour", "x", "tour.mp4", VIDEO)
    daemon = DaemonProcess(env, "run")
    try:
        assert wait_until(lambda: any(s[0] == "finalize" for s in x.steps), timeout=60), daemon.output
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, daemon.output
    finally:
        daemon.stop()
    assert x.tweets == []
    events = [json.loads(line) for line in run_cli(env, "log", "--json").stdout.splitlines()]
    statuses = [e["status"] for e in events if e["target"] == "x"]
    assert "released" in statuses and "in_doubt" not in statuses, statuses
    queue = run_cli(env, "queue")
    assert "x" in queue.stdout and "in_doubt" not in queue.stdout, queue.stdout
    # Started again, the daemon publishes it (X now finishes processing at once).
    x.check_after_secs, x.processing_polls = 0, 0
    assert run_cli(env, "run", "--once").returncode == 0
    assert len(x.tweets) == 1 and published(env)["x"]["remote_id"] == x.tweets[0]["id"]


def test_a_video_x_cannot_process_fails_that_post_with_xs_reason(
    tmp_path: Path, fakes: dict[str, NetworkFake]
) -> None:
    x = fakes["x"]
    assert isinstance(x, FakeX)
    x.fail_processing("Unsupported video codec: use H.264.")
    env = environment(tmp_path, fakes)
    drop(tmp_path, "tour", "x", "tour.mp4", mp4_bytes(12.0))
    assert run_cli(env, "run", "--once").returncode == 0
    events = [json.loads(line) for line in run_cli(env, "log", "--json").stdout.splitlines()]
    (failed,) = [e for e in events if e["target"] == "x" and e["status"] == "failed"]
    assert "could not process tour.mp4: Unsupported video codec: use H.264." in json.dumps(
        failed, ensure_ascii=False
    )
    assert x.tweets == [] and not any(e["status"] == "in_doubt" for e in events)
