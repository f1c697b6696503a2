"""Settings: environment first, then a settings file, then systemd credentials; embedded defaults last.

Environment variables use the prefix ``PUBLISHER_`` and ``__`` between nested names, for example
``PUBLISHER_VK__ACCESS_TOKEN``. A named extra account of a network is configured the same way under
``ACCOUNTS__<NAME>__``: ``PUBLISHER_VK__ACCOUNTS__BNTU__GROUP_ID=123`` makes the target ``vk:bntu``.
Tokens are ``SecretStr`` and are registered with :mod:`publisher.ops.redact` as soon as they are loaded.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from publisher.errors import ConfigurationError
from publisher.i18n import set_language
from publisher.models import NETWORKS, network_of
from publisher.network_settings import DAY as DAY
from publisher.network_settings import YEAR as YEAR
from publisher.network_settings import FacebookSettings as FacebookSettings
from publisher.network_settings import HttpTimeouts as HttpTimeouts
from publisher.network_settings import InstagramSettings as InstagramSettings
from publisher.network_settings import NetworkSettings as NetworkSettings
from publisher.network_settings import Section
from publisher.network_settings import TelegramSettings as TelegramSettings
from publisher.network_settings import VkSettings as VkSettings
from publisher.network_settings import XSettings as XSettings
from publisher.ops.redact import register_secret
from publisher.plan.cadence import parse_slot
from publisher.settings_names import DEFAULT_SETTINGS_FILE as DEFAULT_SETTINGS_FILE
from publisher.settings_names import ENV_PREFIX as ENV_PREFIX


class AlertSettings(Section):
    """Where operators are told about incidents (failed, in doubt, paused, stalled)."""

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "publisher@localhost"
    mail_to: list[str] = []  # noqa: RUF012  (a pydantic field: each instance gets its own copy)
    stalled_after_seconds: int = Field(900, gt=0, le=int(YEAR))


class EditorsSettings(Section):
    """The editors' own Telegram group (not the operators' alert chat): what was accepted, refused, published.

    The bot token is the alerts' (``alerts.telegram_bot_token``, else ``telegram.bot_token``); the bot must be
    a member of the group. Messages are in ``language`` and never hold up publishing.
    """

    telegram_chat_id: str | None = None
    # Bot API FAQ: no more than 20 messages per minute to the same group;
    # https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
    max_per_minute: float = Field(20.0, gt=0, description="messages a minute to the editors' chat at most")


_STEP = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_steps(value: str) -> tuple[timedelta, ...]:
    """``"1h,1d,7d,30d"`` -> durations, ascending; raises ``ValueError`` naming the bad step."""
    steps = []
    for part in (p.strip().lower() for p in value.split(",")):
        match = _STEP.fullmatch(part)
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{part!r} is not a duration: write e.g. 1h,1d,7d,30d (m, h, d or w)")
        steps.append(timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)]))
    return tuple(sorted(set(steps)))


class MetricsSettings(Section):
    """When the daemon reads back the figures of published posts (a snapshot at each step after publishing)."""

    schedule: str = Field("1h,1d,7d,30d", description="steps after publication, e.g. 1h,1d,7d,30d")
    interval: float = Field(300.0, gt=0, le=DAY, description="seconds between runs of the metrics job")
    enabled: bool = True

    @field_validator("schedule")
    @classmethod
    def _steps(cls, value: str) -> str:
        parse_steps(value)
        return value

    @property
    def steps(self) -> tuple[timedelta, ...]:
        return parse_steps(self.schedule)


class ReportSettings(Section):
    """The monthly round-table report: sent to the team's Telegram chat on the 1st at ``hour`` local time."""

    telegram_chat_id: str | None = None
    hour: int = Field(9, ge=0, le=23)


class Settings(BaseSettings):
    """All settings. ``settings.example.env`` documents every one of them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        env_file_encoding="utf-8",
        extra="forbid",
        hide_input_in_errors=True,
        case_sensitive=False,
        allow_inf_nan=False,
    )

    data_dir: Path = Path("var")
    database_url: str | None = None
    inbox_dir: Path | None = None
    timezone: str = "Europe/Minsk"
    dry_run: bool = False
    directory_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    #: the editors' language (rejection notes, receipts, chat messages, preview); operators' logs stay English
    language: Literal["ru", "en"] = "ru"

    # The content plan (publisher.plan): memorable dates, posting slots, reminders to the team chat
    dates_file: Path | None = None
    default_slots: list[str] = Field(
        ["10:00", "18:00"], description="local times publish_at: slot picks from when the rubric has no slots"
    )
    remind_at: str = Field(
        "10:00", description="local time of the daily reminder to the team chat; off: none"
    )
    remind_days: int = Field(3, ge=0, description="remind of a rubric's empty slot this many days ahead")
    date_remind_days: int = Field(
        7, ge=0, description="remind of an uncovered memorable date this many days ahead"
    )

    # Draining
    workers: int = Field(8, ge=1, le=64, description="deliveries published at once")
    drain_batch: int = Field(64, ge=1, le=10_000)
    lease_seconds: float = Field(
        30.0,
        gt=0,
        le=DAY,
        description="a claim not renewed for this long belongs to a dead daemon (renewed every third)",
    )
    reconcile_delay_seconds: float = Field(
        15.0, ge=0, le=DAY, description="wait before looking up an in-doubt post"
    )
    ingest_interval: float = Field(5.0, gt=0, le=DAY, description="seconds between scans of the inbox")
    housekeeping_interval: float = Field(
        15.0, gt=0, le=DAY, description="seconds between lease reaping, reconciliation, heartbeat and STATUS="
    )
    inbox_settle_seconds: float = Field(2.0, ge=0, le=DAY, description="a file must be unchanged this long")
    max_post_bytes: int = Field(1_000_000, gt=0, le=2**31)
    max_media_bytes: int = Field(200_000_000, gt=0, le=2**40)
    max_post_media_bytes: int = Field(
        200_000_000, gt=0, le=2**40, description="all media of one post together, counted as copied"
    )
    media_storage: Literal["database", "files"] = Field(
        "database",
        description="where accepted media are kept: in the queue database (every daemon on it can read them)"
        " or as files in DATA_DIR/media (one host, or a directory every host mounts)",
    )

    # Retries
    max_attempts: int = Field(8, ge=1, le=1000)
    retry_base_seconds: float = Field(30.0, gt=0, le=DAY)
    retry_max_seconds: float = Field(3600.0, gt=0, le=30 * DAY)
    default_expiry_hours: float | None = Field(
        72.0, gt=0, le=YEAR / 3600, description="a post not out by then fails"
    )

    # Editors' dates and repeats
    past_tolerance_minutes: float = Field(
        10.0, ge=0, le=DAY / 60, description="a publish_at further in the past is refused ('publish_at: now')"
    )
    duplicate_days: float = Field(
        30.0,
        ge=0,
        le=YEAR / DAY,
        description="the same text to the same network again within this is refused",
    )

    vk: VkSettings = VkSettings()
    x: XSettings = XSettings()
    facebook: FacebookSettings = FacebookSettings()
    telegram: TelegramSettings = TelegramSettings()
    instagram: InstagramSettings = InstagramSettings()
    alerts: AlertSettings = AlertSettings()
    editors: EditorsSettings = EditorsSettings()
    metrics: MetricsSettings = MetricsSettings()
    report: ReportSettings = ReportSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Nested secrets so that a credential file named PUBLISHER_VK__ACCESS_TOKEN fills vk.access_token.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            NestedSecretsSettingsSource(file_secret_settings),
        )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Minsk") from None
        return value

    @field_validator("remind_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        parse_slot(value)  # CadenceError is a ValueError: pydantic reports it with the variable's name
        return value

    @field_validator("default_slots")
    @classmethod
    def _times_of_day(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('needs at least one time, e.g. ["10:00"]')
        for item in value:
            parse_slot(item)
        return value

    # Derived values -------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'publisher.db'}"

    @property
    def resolved_inbox_dir(self) -> Path:
        return self.inbox_dir or self.data_dir / "inbox"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def network(self, name: str) -> NetworkSettings:
        if name not in NETWORKS:
            raise ConfigurationError(f"unknown network {name!r}: known networks are {', '.join(NETWORKS)}")
        section: NetworkSettings = getattr(self, name)
        return section

    def known_targets(self) -> list[str]:
        """Every network's default account plus every named extra account."""
        targets: list[str] = []
        for name in NETWORKS:
            targets.append(name)
            targets.extend(f"{name}:{account}" for account in sorted(self.network(name).account_overrides()))
        return targets

    def target(self, target: str) -> NetworkSettings:
        """The settings of one target: the network section with a named account's fields applied."""
        name = network_of(target)
        section = self.network(name)
        if ":" not in target:
            return section
        account_name = target.split(":", 1)[1]
        accounts = section.account_overrides()
        if account_name not in accounts:
            var = target_variable(target, "...")
            raise ConfigurationError(f"target {target!r} is not configured: set {var}")
        account = accounts[account_name]
        update = {k: getattr(account, k) for k in account.model_fields_set}
        return section.model_copy(update={**update, "accounts": {}})

    def is_dry_run(self, target: str) -> bool:
        return self.dry_run or self.target(target).dry_run

    def all_secrets(self) -> list[SecretStr]:
        found: list[SecretStr] = []
        for name in NETWORKS:
            section = self.network(name)
            found.extend(section.secrets())
            for account in section.account_overrides().values():
                found.extend(account.secrets())
        found.extend(v for v in self.alerts.__dict__.values() if isinstance(v, SecretStr))
        return found


_UNSAFE_IN_TOKEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def secret_problems(model: BaseModel, loc: tuple[str, ...] = ()) -> list[str]:
    """Tokens with whitespace or control characters (a pasted newline, a trailing space): refused by name.

    Such a token cannot work, and it breaks more than its own requests: an HTTP header cannot carry it, and
    its percent-encoded form in a URL path would escape redaction of its plain form.
    """
    problems: list[str] = []
    for name, value in model:
        here = (*loc, name)
        if isinstance(value, SecretStr) and _UNSAFE_IN_TOKEN.search(value.get_secret_value()):
            problems.append(
                f"{env_var_for(here)}: contains whitespace or control characters: "
                "copy the token again without spaces or line breaks"
            )
        elif isinstance(value, BaseModel):
            problems.extend(secret_problems(value, here))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    problems.extend(secret_problems(item, (*here, str(key))))
    return problems


def _refuse(problems: list[str], env_file: Path | None) -> None:
    """Raise one ConfigurationError for ``problems``: one line for one problem, a list for several."""
    if not problems:
        return
    source = f" (settings file {env_file})" if env_file else ""
    if len(problems) == 1:
        raise ConfigurationError(f"invalid settings{source}: {problems[0]}")
    raise ConfigurationError("invalid settings" + source + ":\n  " + "\n  ".join(problems))


def env_var_for(loc: tuple[str | int, ...]) -> str:
    """``("vk", "group_id")`` -> ``PUBLISHER_VK__GROUP_ID``."""
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def target_variable(target: str, name: str) -> str:
    """The variable of one target's setting: ``("facebook:bntu", "page_id")`` ->
    ``PUBLISHER_FACEBOOK__ACCOUNTS__BNTU__PAGE_ID`` (a named account has its own, not the default's)."""
    network, _, account = target.partition(":")
    return env_var_for((network, "accounts", account, name) if account else (network, name))


def load_settings(settings_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings; raise ``ConfigurationError`` naming each variable to fix (never its value).

    The settings file is ``settings_file``, else ``$PUBLISHER_SETTINGS_FILE``, else ``./settings.env``
    when it exists. Tokens may also come from ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``),
    one file per variable named like the variable, e.g. ``PUBLISHER_TELEGRAM__BOT_TOKEN``.
    """
    chosen = settings_file or os.environ.get(f"{ENV_PREFIX}SETTINGS_FILE")
    env_file: Path | None
    if chosen:
        env_file = Path(chosen)
        if not env_file.is_file():
            raise ConfigurationError(f"settings file {env_file} does not exist: create it or fix the path")
    else:
        env_file = DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None
    secrets_dir = os.environ.get("CREDENTIALS_DIRECTORY") or None
    try:
        settings = Settings(
            _env_file=env_file,
            _secrets_dir=secrets_dir,
            **overrides,
        )
    except UnicodeDecodeError as exc:  # the settings file (variables and credentials are text already)
        raise ConfigurationError(
            f"settings file {env_file} is not UTF-8 (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:  # e.g. a settings file only the service's user may read
        raise ConfigurationError(f"cannot read {exc.filename or env_file} ({exc.strerror})") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = env_var_for(tuple(error["loc"]))
            problems.append(f"{where}: {error['msg']}")
        _refuse(problems, env_file)
    _refuse(secret_problems(settings), env_file)
    for secret in settings.all_secrets():
        register_secret(secret.get_secret_value())
    set_language(settings.language)
    return settings
