"""The network sections of the settings: one declaration per network (its fields, the fields a named account
may set, the credentials a real publish needs), and what every section shares. ``publisher.settings``
assembles them with the service's own settings; import them from there or from here.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: Upper bounds of time settings: far beyond any sensible value, far below what overflows a timer or a date.
DAY = 86_400.0
YEAR = 366 * DAY


class Section(BaseModel):
    """A nested settings section: unknown keys and non-finite numbers are refused."""

    # allow_inf_nan=False: "inf" or "nan" in a number setting is refused with the variable's name.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, allow_inf_nan=False)


class HttpTimeouts(Section):
    """Every network call is bounded: the client libraries have no timeout of their own."""

    connect: float = Field(5.0, gt=0, le=DAY, description="seconds to open a connection")
    read: float = Field(30.0, gt=0, le=DAY, description="seconds to wait for each piece of the response")
    total: float = Field(90.0, gt=0, le=DAY, description="overall deadline of one HTTP exchange")
    upload: float = Field(
        1800.0, gt=0, le=DAY, description="all uploads of one post's media, the network's processing included"
    )


class NetworkSettings(Section):
    """What every network section shares, and how a network declares its accounts.

    A network's section is its one declaration: its fields, ``account_fields`` (what a named account
    ``ACCOUNTS__<NAME>__`` may set; everything else comes from the section) and ``credentials`` (what a
    real publish needs). A named account is validated as the same class, limited to those fields.
    """

    account_fields: ClassVar[tuple[str, ...]] = ()
    credentials: ClassVar[tuple[str, ...]] = ()

    api_url: str = ""
    dry_run: bool = False
    timeouts: HttpTimeouts = HttpTimeouts()
    max_per_minute: float | None = Field(
        None, gt=0, description="publish at most this many posts a minute to one target (None: no pacing)"
    )

    @field_validator("accounts", check_fields=False)
    @classmethod
    def _only_account_fields(cls, accounts: dict[str, NetworkSettings]) -> dict[str, NetworkSettings]:
        allowed = {*cls.account_fields, "dry_run"}
        for name, account in accounts.items():
            extra = sorted(account.model_fields_set - allowed)
            if extra:
                raise ValueError(
                    f"account {name!r} may set only {', '.join(sorted(allowed))}; not {', '.join(extra)}"
                )
        return accounts

    def secrets(self) -> list[SecretStr]:
        return [v for v in self.__dict__.values() if isinstance(v, SecretStr)]

    def credentials_missing(self) -> list[str]:
        """Names of the fields a real publish needs that are not set (empty list when complete)."""
        return [n for n in self.credentials if getattr(self, n) in (None, "")]

    def account_overrides(self) -> dict[str, NetworkSettings]:
        accounts: dict[str, NetworkSettings] = getattr(self, "accounts", {})
        return accounts


# One declaration per network. Variable names: PUBLISHER_<NETWORK>__<FIELD>, and for a named account
# PUBLISHER_<NETWORK>__ACCOUNTS__<NAME>__<FIELD>.


class VkSettings(NetworkSettings):
    account_fields = credentials = ("access_token", "group_id")
    api_url: str = "https://api.vk.ru"
    api_version: str = "5.199"
    access_token: SecretStr | None = None
    group_id: int | None = Field(None, gt=0, description="community id, without the minus sign")
    accounts: dict[str, VkSettings] = {}


class XSettings(NetworkSettings):
    credentials = ("api_key", "api_secret", "access_token", "access_token_secret")
    account_fields = (*credentials, "username")
    api_url: str = "https://api.x.com"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    username: str | None = Field(None, description="the account's handle, for post URLs")
    accounts: dict[str, XSettings] = {}


class FacebookSettings(NetworkSettings):
    account_fields = credentials = ("page_id", "page_access_token")
    api_url: str = "https://graph.facebook.com"
    graph_version: str = "v24.0"
    page_id: str | None = None
    page_access_token: SecretStr | None = None
    accounts: dict[str, FacebookSettings] = {}


class TelegramSettings(NetworkSettings):
    account_fields = credentials = ("bot_token", "chat_id")
    api_url: str = "https://api.telegram.org"
    # Bot API FAQ: "no more than 20 messages per minute to the same group" (channels alike);
    # https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
    max_per_minute: float | None = Field(20.0, gt=0)
    bot_token: SecretStr | None = None
    chat_id: str | None = Field(None, description="@channelusername or the numeric id (-100...)")
    accounts: dict[str, TelegramSettings] = {}


class InstagramSettings(NetworkSettings):
    """An Instagram professional (Business or Creator) account, through the Instagram Graph API.

    Instagram fetches every picture from a public URL (it "cURLs" the media: https://developers.facebook.com/
    docs/instagram-platform/content-publishing). The service copies each picture into ``media_dir``, a
    folder that an existing web server (or a mounted object-storage bucket) publishes at
    ``media_base_url``, and removes the copy once Instagram has fetched it; see docs/install.md. Videos
    go to Meta's resumable upload host (``upload_url``) and need no public copy.
    """

    credentials = ("account_id", "access_token", "media_dir", "media_base_url")
    account_fields = ("account_id", "access_token")
    api_url: str = "https://graph.facebook.com"
    # The newest Graph version whose release Meta's changelog names (v26.0, July 29, 2026):
    # https://developers.facebook.com/docs/graph-api/changelog
    graph_version: str = "v26.0"
    #: Meta's host for resumable video uploads (https://developers.facebook.com/docs/instagram-platform/
    #: content-publishing/resumable-uploads); tests point it at the loopback fake
    upload_url: str = "https://rupload.facebook.com"
    account_id: str | None = Field(None, description="the Instagram professional account's id (IG user id)")
    access_token: SecretStr | None = None
    media_dir: str | None = Field(None, description="a folder the web server publishes at media_base_url")
    media_base_url: str | None = Field(None, description="the public URL of media_dir, https://...")
    # Instagram caps API publishing per account per 24-hour moving window; the media_publish reference and
    # content_publishing_limit (config.quota_total, "currently 50") say 50, the content publishing guide
    # has said 100. The adapter asks content_publishing_limit before each post and keeps under the lower
    # of this and quota_total: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/
    # reference/ig-user/content_publishing_limit
    max_per_day: int = Field(50, ge=1, le=1000, description="posts a 24-hour window at most")
    accounts: dict[str, InstagramSettings] = {}
