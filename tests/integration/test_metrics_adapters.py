"""Each adapter's ``fetch_metrics`` through its real client library against the network's fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from publisher.adapters.facebook import FacebookAdapter
from publisher.adapters.vk import VkAdapter
from publisher.adapters.x import XAdapter
from publisher.errors import AuthError, RateLimited
from publisher.models import RemoteRef
from publisher.settings import FacebookSettings, HttpTimeouts, VkSettings, XSettings
from tests.fakes.facebook import FakeFacebook
from tests.fakes.vk import FakeVk
from tests.fakes.x import FakeX

TIMEOUTS = HttpTimeouts(connect=0.5, read=2.0, total=5.0)
VK_TOKEN = "vk1.a.adapter-metrics-token-0123456789"
X_CREDS = ("m-consumer-key", "m-consumer-secret", "m-access-token", "m-access-secret")


@pytest.fixture
def vk() -> Iterator[tuple[FakeVk, VkAdapter]]:
    fake = FakeVk(VK_TOKEN, 123)
    fake.start()
    adapter = VkAdapter(
        "vk", VkSettings(api_url=fake.url, access_token=SecretStr(VK_TOKEN), group_id=123, timeouts=TIMEOUTS)
    )
    yield fake, adapter
    adapter.close()
    fake.stop()


@pytest.mark.parametrize("shape", ["items", "list"])
def test_vk_reads_both_answer_shapes_of_wall_getById(vk: tuple[FakeVk, VkAdapter], shape: str) -> None:
    fake, adapter = vk
    fake.getbyid_shape = shape
    posts = [fake.add_post(f"пост {i}") for i in range(3)]
    refs = [RemoteRef(f"-123_{p.id}") for p in posts] + [RemoteRef("-123_999")]
    snapshots = adapter.fetch_metrics(refs)
    calls = [r for r in fake.requests if r.path.endswith("/wall.getById")]
    assert len(calls) == 1 and calls[0].param("posts") == ",".join(r.remote_id for r in refs)
    assert [s.remote_id for s in snapshots] == [r.remote_id for r in refs]
    for s in snapshots[:3]:
        served = fake.figures.served[s.remote_id]
        assert s.available and (s.views, s.likes, s.reposts, s.comments) == (
            served["views"],
            served["likes"],
            served["reposts"],
            served["comments"],
        )
        assert VK_TOKEN not in s.raw
    assert not snapshots[3].available and "did not return" in snapshots[3].reason


def test_vk_rate_limit_and_revoked_token_are_the_error_tree(vk: tuple[FakeVk, VkAdapter]) -> None:
    fake, adapter = vk
    post = fake.add_post("пост")
    fake.vk_error(6, method="wall.getById")
    with pytest.raises(RateLimited):
        adapter.fetch_metrics([RemoteRef(f"-123_{post.id}")])
    fake.vk_error(5, method="wall.getById")
    with pytest.raises(AuthError):
        adapter.fetch_metrics([RemoteRef(f"-123_{post.id}")])


def test_x_reads_public_metrics_and_marks_a_missing_post() -> None:
    with FakeX(
        consumer_key=X_CREDS[0],
        consumer_secret=X_CREDS[1],
        access_token=X_CREDS[2],
        access_token_secret=X_CREDS[3],
    ) as fake:
        keys = dict(
            zip(("api_key", "api_secret", "access_token", "access_token_secret"), X_CREDS, strict=True)
        )
        adapter = XAdapter(
            "x",
            XSettings(
                api_url=fake.url,
                username="bntu_library",
                timeouts=TIMEOUTS,
                **{k: SecretStr(v) for k, v in keys.items()},
            ),  # type: ignore[arg-type]
        )
        from publisher.models import Rendered

        result = adapter.publish(Rendered("x", "x", "Пост для метрик", 15, 280), "key")
        first, missing = adapter.fetch_metrics([RemoteRef(result.remote_id), RemoteRef("1")])
        served = fake.figures.served[result.remote_id]
        assert (first.views, first.impressions, first.likes, first.reposts, first.comments) == (
            served["views"],
            served["views"],
            served["likes"],
            served["reposts"],
            served["comments"],
        )
        assert not missing.available
        adapter.close()


def test_facebook_reads_engagement_and_insights_where_permitted() -> None:
    fake = FakeFacebook()
    fake.start()
    settings = FacebookSettings(
        api_url=fake.url, page_id=fake.page_id, page_access_token=SecretStr(fake.token), timeouts=TIMEOUTS
    )
    adapter = FacebookAdapter("facebook", settings)
    try:
        a, b = fake.add_post("первый"), fake.add_post("второй")
        refs = [RemoteRef(a.id), RemoteRef(b.id)]
        # Without the insights permission: engagement only, views empty with the reason.
        without = adapter.fetch_metrics(refs)
        for s in without:
            served = fake.figures.served[s.remote_id]
            assert s.available and s.views is None and "insights" in s.reason
            assert (s.likes, s.comments, s.reposts) == (
                served["likes"],
                served["comments"],
                served["reposts"],
            )
        fake.insights_allowed = True
        with_insights = adapter.fetch_metrics(refs)
        for s in with_insights:
            served = fake.figures.served[s.remote_id]
            assert s.views == served["views"] and s.reach == served["views"] // 2 and s.reason == ""
        # A post Graph no longer knows does not hide the others' figures.
        gone, kept = adapter.fetch_metrics([RemoteRef(f"{fake.page_id}_404"), RemoteRef(a.id)])
        assert not gone.available and "do not exist" in gone.reason and kept.available
    finally:
        adapter.close()
        fake.stop()
