"""Canary tokens in every credential, the whole service exercised at DEBUG: no token may come out anywhere.

Every credential (VK token, the four X secrets, the Facebook Page token, the Telegram bot token, the
alert bot token and the SMTP password) is a long random string with characters that URL-encoding
changes, set through the environment and loaded by ``load_settings`` as in production. Then the fault
matrix runs through the dispatcher (several faults per network, some of whose error answers echo the
token back, as VK's ``request_params`` and Graph's messages do), a post file is ingested and another
rejected, ``publisher check`` runs, and alerts go out by Telegram and e-mail. Afterwards no canary may
appear, raw or URL-encoded, in the log, any column of any table, the database files' bytes, any file the
service wrote, ``publisher log --json`` and the other CLI outputs, or the repr of settings and adapters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from publisher import cli
from publisher.compose.directory import Directory
from publisher.errors import PublishError
from publisher.intake.accept import Intake
from publisher.intake.inbox import Inbox
from publisher.ops.alerts import Alerter, Incident
from publisher.ops.incidents import Incidents
from publisher.settings import load_settings
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes import NetworkFake
from tests.fakes.base import Reply, Request
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.fault_world import NETWORKS, X_USER, Creds, World, canary, start_fakes
from tests.helpers import free_port

TEAM_CHAT = -1009876543210


def bot_token(n: int) -> str:
    # No "/" in a Telegram token: it is a path segment of every Bot API URL.
    return f"70000000{n:02d}:" + canary().replace("/", "_")


class TwoBotTelegram(FakeTelegram):
    """The Bot API for the publishing bot and the alert bot, on one server (alerts use telegram.api_url)."""

    def __init__(self, token: str, alert_token: str) -> None:
        self.alert_token = alert_token
        super().__init__(token)

    def _authorized(self, handler: Any) -> Any:
        def route(request: Request) -> Reply:
            match = re.match(r"/bot([^/]+)/", request.path)
            if not match or match.group(1) not in (self.token, self.alert_token):
                return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            result: Reply = handler(request)
            return result

        return route


class Sink:
    """An SMTP server that demands the canary password."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.logins: list[str] = []
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.password.decode())
        return AuthResult(success=data.password.decode() == self.password, handled=False)


def forms(secret: str) -> set[str]:
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}


def leaks(text: str | bytes, secrets: list[str]) -> list[str]:
    """Which encodings of which secrets occur in ``text``."""
    found = []
    for secret in secrets:
        for form in forms(secret):
            needle: str | bytes = form.encode() if isinstance(text, bytes) else form
            if needle in text:  # type: ignore[operator]
                found.append(form[:12] + "…")
    return found


@pytest.fixture
def smtp_password() -> str:
    return canary()


@pytest.fixture
def sink(smtp_password: str) -> Iterator[tuple[Sink, int]]:
    port = free_port()
    sink = Sink(smtp_password)
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, authenticator=sink.authenticate, auth_require_tls=False
    )
    controller.start()
    yield sink, port
    controller.stop()


def environment(
    fakes: dict[str, NetworkFake],
    alert_token: str,
    smtp_port: int,
    password: str,
    data_dir: Path,
) -> dict[str, str]:
    env = {
        "PUBLISHER_DATA_DIR": str(data_dir),
        "PUBLISHER_LOG_LEVEL": "DEBUG",
        "PUBLISHER_INBOX_SETTLE_SECONDS": "0",
        "PUBLISHER_ALERTS__TELEGRAM_BOT_TOKEN": alert_token,
        "PUBLISHER_ALERTS__TELEGRAM_CHAT_ID": str(TEAM_CHAT),
        "PUBLISHER_ALERTS__SMTP_HOST": "127.0.0.1",
        "PUBLISHER_ALERTS__SMTP_PORT": str(smtp_port),
        "PUBLISHER_ALERTS__SMTP_USER": "publisher",
        "PUBLISHER_ALERTS__SMTP_PASSWORD": password,
        "PUBLISHER_ALERTS__MAIL_TO": '["smm@library.example"]',
    }
    for name in NETWORKS:
        env.update(fakes[name].service_env())
        upper = name.upper()
        # A fake's time_out holds until the client gives up: each costs one read timeout.
        env[f"PUBLISHER_{upper}__TIMEOUTS__CONNECT"] = "2"
        env[f"PUBLISHER_{upper}__TIMEOUTS__READ"] = "2"
        env[f"PUBLISHER_{upper}__TIMEOUTS__TOTAL"] = "10"
        env[f"PUBLISHER_{upper}__MAX_PER_MINUTE"] = "60000"  # no pacing worth the name
    return env


Inject = Callable[[Any, Creds], object]
#: round by round, one fault per network; several answers echo the token back (VK's request_params,
#: Graph's "cannot parse access token" message) so the scrubbing is really exercised.
FAULTS: dict[str, list[Inject]] = {
    "vk": [
        lambda f, c: f.vk_error(5),
        lambda f, c: f.vk_error(14),
        lambda f, c: f.server_error(503),
        lambda f, c: f.time_out(),
        lambda f, c: f.malformed_answer(),
    ],
    "x": [
        lambda f, c: f.revoke_token(),
        lambda f, c: f.server_error(503),
        lambda f, c: f.time_out(),
        lambda f, c: f.reject_duplicate(),
        lambda f, c: f.malformed_answer(),
    ],
    "facebook": [
        lambda f, c: f.fail(190, f"Invalid OAuth access token - Cannot parse access token {c.facebook}"),
        lambda f, c: f.server_error(500),
        lambda f, c: f.time_out(),
        lambda f, c: f.block_for_policy(),
        lambda f, c: f.throttle(32, 5),
    ],
    "telegram": [
        lambda f, c: f.revoke_token(),
        lambda f, c: f.server_error(500),
        lambda f, c: f.time_out(),
        lambda f, c: f.fail_bad_request(),
        lambda f, c: f.rate_limit(7),
    ],
    "instagram": [
        lambda f, c: f.fail(190, f"Invalid OAuth access token - Cannot parse access token {c.instagram}"),
        lambda f, c: f.server_error(500),
        lambda f, c: f.time_out(),
        lambda f, c: f.fail(4, "We restrict certain activity", subcode=2207051),
        lambda f, c: f.rate_limit(300),
    ],
}
#: faults for the account checks of ``publisher check``
CHECK_FAULTS: dict[str, Inject] = {
    "vk": lambda f, c: f.vk_error(5, method="users.get"),
    "x": lambda f, c: f.revoke_token(path=r"/2/users/me$"),
    "facebook": lambda f, c: f.fail(190, f"Cannot parse access token {c.facebook}", path=r"/\d+$"),
    "telegram": lambda f, c: f.revoke_token(path="/getMe$"),
    "instagram": lambda f, c: f.fail(190, f"Cannot parse access token {c.instagram}", path=r"/\d+$"),
}

POST_FILE = """---
networks: [vk, x, facebook, telegram]
approved_by: редактор дня
---
Вечер поэзии в читальном зале: приходите в пятницу!
"""
BAD_FILE = """---
networks: [vk, myspace]
approved_by: редактор дня
---
Этот пост не пройдёт.
"""


def test_no_credential_leaks_anywhere(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sink: tuple[Sink, int],
    smtp_password: str,
    log_text: StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    creds = Creds(
        vk="vk1.a." + canary(),
        x=(canary(), canary(), canary(f"{X_USER}-"), canary()),
        facebook="EAA" + canary(),
        telegram=bot_token(1),
        instagram="EAAig" + canary(),
    )
    alert_token = bot_token(2)
    secrets = [
        creds.vk,
        *creds.x,
        creds.facebook,
        creds.telegram,
        creds.instagram,
        alert_token,
        smtp_password,
    ]
    telegram = TwoBotTelegram(creds.telegram, alert_token)
    telegram.add_chat(FakeChat(id=TEAM_CHAT, type="supergroup", title="SMM", bot_status="member"))
    data_dir = tmp_path / "var"
    monkeypatch.chdir(tmp_path)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    operator_text: list[str] = []  # what check() and errors would show an operator

    with start_fakes(creds, NETWORKS, {"telegram": telegram}) as fakes:
        for key, value in environment(fakes, alert_token, sink[1], smtp_password, data_dir).items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        store = Store(settings.resolved_database_url)
        world = World(store, clock, fakes, creds, settings=settings)
        incidents = Incidents(store, Alerter(settings), clock)
        world.dispatcher.incidents = incidents
        try:
            # The fault matrix, five rounds of one fault per network, each followed by what comes next.
            for round_ in range(5):
                world.add(*NETWORKS)
                for name in NETWORKS:
                    FAULTS[name][round_](fakes[name], creds)
                world.drain()
                clock.advance(hours=2)
                for name in NETWORKS:
                    store.release_target(name, clock(), "operator")
                world.dispatcher.reconcile()
                world.drain()

            # Ingest: one post file accepted, one rejected with an error file.
            inbox_dir = settings.resolved_inbox_dir
            inbox_dir.mkdir(parents=True)
            (inbox_dir / "poetry.md").write_text(POST_FILE, encoding="utf-8")
            (inbox_dir / "myspace.md").write_text(BAD_FILE, encoding="utf-8")
            intake = Intake(store, settings, Directory.empty, clock)
            report = Inbox(inbox_dir, 0).scan(lambda p: str(intake.accept(p, inbox_dir)[0]))
            for name, message in report.rejected:
                store.log_event(clock(), "rejected", error=message, detail={"file": name})
            assert [n for n, _ in report.accepted] == ["poetry.md"] and len(report.rejected) == 1
            world.drain()

            # Account checks, healthy and then with every token refused.
            for name in NETWORKS:
                adapter = world.dispatcher.adapters.get(name)
                operator_text += [repr(adapter), adapter.describe(), repr(adapter.check())]
                CHECK_FAULTS[name](fakes[name], creds)
                try:
                    operator_text.append(repr(adapter.check()))
                except PublishError as exc:
                    operator_text += [str(exc), repr(exc), repr(exc.__dict__)]

            # Alerts: a direct one, then one whose Telegram leg fails.
            alerter = Alerter(settings)
            incident = Incident("test:1", "failed", "проверка", "текст", target="vk")
            assert alerter.send(incident) == ["telegram", "email"]
            telegram.fail("sendMessage", 500, "Internal Server Error")
            assert alerter.send(incident) == ["email"]
            operator_text += [repr(alerter), repr(settings), str(settings), settings.model_dump_json()]
            operator_text += [repr(getattr(settings, name)) for name in NETWORKS] + [repr(settings.alerts)]
        finally:
            incidents.close()
            world.close()
            store.close()

    # The canaries really travelled: every network published with them, both alert channels used them.
    assert all(fakes[name].applied for name in NETWORKS)
    assert smtp_password in sink[0].logins and sink[0].messages
    assert telegram.sent_to(TEAM_CHAT)
    assert any(f"/bot{alert_token}/" in r.path for r in telegram.requests)
    log = log_text.getvalue()
    assert "urllib3" in log and "***" in log  # DEBUG was on, and something was masked

    # Outputs of the operator commands, with the same environment.
    capsys.readouterr()
    assert cli.main(["log", "--json"]) == 0
    log_json = capsys.readouterr()
    assert log_json.out.count("\n") > 50
    for argv in (["log"], ["queue", "--json"], ["status", "--json"], ["show", "1"], ["check"]):
        cli.main(argv)
    outputs = capsys.readouterr()

    places: dict[str, str | bytes] = {
        "log": log,
        "publisher log --json": log_json.out + log_json.err,
        "other commands": outputs.out + outputs.err,
        "operator text": "\n".join(operator_text),
    }
    engine = sqlalchemy.create_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        for table in sqlalchemy.inspect(conn).get_table_names():
            rows = conn.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')).all()
            places[f"table {table}"] = "\n".join(str(v) for row in rows for v in row)
    engine.dispose()
    assert "myspace" in places["table events"] and "Вечер поэзии" in places["table posts"]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".error.txt") for p in written)
    assert any(p.name.startswith("publisher.db") for p in written)
    for path in written:
        places[str(path.relative_to(tmp_path))] = path.read_bytes()
    found = {where: hits for where, text in places.items() if (hits := leaks(text, secrets))}
    assert found == {}
