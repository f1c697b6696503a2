"""Incidents: alerts go out on their own thread, and stopping waits for them only as long as it was told."""

from __future__ import annotations

import threading

from publisher.ops.alerts import Incident
from publisher.ops.incidents import Incidents
from publisher.store import Store
from tests.conftest import FakeClock


class HangingAlerter:
    """An alert channel that answers only when the test lets it (a mail server that hangs)."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.sent: list[str] = []

    def send(self, incident: Incident) -> list[str]:
        self.answer.wait(30)
        self.sent.append(incident.key)
        return ["test"]


def test_close_waits_for_pending_alerts_no_longer_than_its_timeout(store: Store, clock: FakeClock) -> None:
    alerter = HangingAlerter()
    incidents = Incidents(store, alerter, clock)  # type: ignore[arg-type]
    incidents.report(Incident("failed:1", "failed", "delivery 1 failed", "HTTP 400", delivery_id=1))
    assert incidents.close(timeout=0.1) is False
    assert alerter.sent == [], "close() returned only after the hanging alert finished"
    alerter.answer.set()


def test_close_reports_that_every_alert_went_out(store: Store, clock: FakeClock) -> None:
    alerter = HangingAlerter()
    alerter.answer.set()
    incidents = Incidents(store, alerter, clock)  # type: ignore[arg-type]
    incidents.report(Incident("failed:1", "failed", "delivery 1 failed", "HTTP 400", delivery_id=1))
    incidents.report(
        Incident("failed:1", "failed", "delivery 1 failed", "HTTP 400", delivery_id=1)
    )  # same incident
    assert incidents.close(timeout=30) is True
    assert alerter.sent == ["failed:1"]
