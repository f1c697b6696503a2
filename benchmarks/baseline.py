"""The baseline: publishing as such setups are often scripted, to put the service's figures in context.

A cron job runs every minute: it reads the whole queue table, picks the rows that are due, and publishes
them one after another with plain ``requests.post`` calls (a new connection each), committing each row.
No composer, no claims, no retries beyond "the next minute". It talks to the same fakes and the same
SQLite file as the service, so the two are measured against the same work.

``python -m benchmarks.baseline DB`` is one cron run; it prints its own CPU and peak memory as JSON.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from requests_oauthlib import OAuth1  # type: ignore[import-untyped]

#: the period of the cron job the baseline stands for
CRON_PERIOD = 60.0


@dataclass
class PassResult:
    published: int = 0
    refused: int = 0
    seconds: float = 0.0


class PlainPublisher:
    """One POST per delivery, the way a script written from each API's quick-start would do it."""

    def __init__(self, info: dict[str, dict[str, Any]]) -> None:
        self.info = info

    def publish(self, network: str, text: str) -> requests.Response:
        c = self.info[network]
        if network == "vk":
            data = {
                "owner_id": -int(c["group_id"]),
                "from_group": 1,
                "message": text,
                "access_token": c["access_token"],
                "v": "5.199",
            }
            return requests.post(f"{c['api_url']}/method/wall.post", data=data, timeout=30)
        if network == "x":
            auth = OAuth1(c["api_key"], c["api_secret"], c["access_token"], c["access_token_secret"])
            return requests.post(f"{c['api_url']}/2/tweets", json={"text": text}, auth=auth, timeout=30)
        if network == "facebook":
            headers = {"Authorization": f"Bearer {c['page_access_token']}"}
            url = f"{c['api_url']}/v24.0/{c['page_id']}/feed"
            return requests.post(url, data={"message": text}, headers=headers, timeout=30)
        url = f"{c['api_url']}/bot{c['bot_token']}/sendMessage"
        return requests.post(url, json={"chat_id": c["chat_id"], "text": text}, timeout=30)


def cron_pass(db_path: str, publisher: PlainPublisher | None, now: datetime | None = None) -> PassResult:
    """One run of the cron job: scan the whole table, publish what is due, one row at a time."""
    started = time.perf_counter()
    result = PassResult()
    cutoff = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        rows = conn.execute(
            "SELECT d.id, d.target, d.state, d.next_at, p.body, p.hashtags"
            " FROM deliveries d JOIN posts p ON p.id = d.post_id"
        ).fetchall()
        due = [r for r in rows if r[2] == "queued" and r[3] <= cutoff]
        due.sort(key=lambda r: r[3])
        for delivery_id, target, _state, _next, body, hashtags in due:
            if publisher is None:
                break
            text = body + "\n\n" + " ".join("#" + t for t in json.loads(hashtags))
            response = publisher.publish(target, text)
            if response.status_code >= 400:
                result.refused += 1  # left queued for the next minute
                continue
            conn.execute("UPDATE deliveries SET state = 'published' WHERE id = ?", (delivery_id,))
            conn.commit()
            result.published += 1
    finally:
        conn.close()
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str]) -> int:
    """One cron run against DB with nothing to publish (the idle cost), reporting its own usage."""
    cron_pass(argv[0], None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
