"""Settings from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from handlers.ids import TELEGRAM_ID_MAX, read_id

__all__ = ["DEFAULT_CONTENT_DIR", "Settings", "load_settings"]

# A web origin: scheme, host and an optional port, nothing after (no path, no slash).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


class Settings(BaseSettings):
    """Every setting clinicbot reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./data/clinicbot.db"
    auto_migrate: bool = True
    content_dir: Path = DEFAULT_CONTENT_DIR
    store_message_bodies: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "INFO"
    clinic_timezone: str | None = None
    default_region: str = "US"
    public_url: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    # No automated SMS from start to end, patient-local (replies to a patient are always sent).
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    # What the Twilio sender allows: a long code 1, toll-free 3, a short code up to 100.
    sms_messages_per_second: float = Field(default=1.0, gt=0, le=1000)
    # What Telegram allows a bot overall (per chat it is 1 a second, per group 20 a minute).
    telegram_messages_per_second: float = Field(default=30.0, gt=0, le=1000)
    # The scheduler (tips, nudges, broadcasts) runs in `clinicbot run`: in every process on
    # PostgreSQL (they share the outbox and the rate limits), in one on SQLite.
    scheduler_enabled: bool = True
    scheduler_tick_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Each scheduler beats this often; a peer silent for WORKER_STALE_SECONDS is dead and its
    # rows are recovered by the living (requeued, or failed "interrupted" if mid-send).
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0, le=600)
    worker_stale_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Staff: Telegram user ids made admins at start (comma-separated), the staff group's chat
    # id (hand-offs and alerts go there), and how much an alert shows (minimal: no symptoms).
    staff_telegram_ids: str = ""
    staff_chat_id: int | None = None
    staff_alert_detail: Literal["minimal", "full"] = "minimal"
    # Web chat on the clinic's website (bot/channels/webchat): the sites allowed to embed it
    # (comma-separated origins; the app's own pages always may), and how long an idle
    # anonymous chat is kept.
    webchat_enabled: bool = False
    webchat_allowed_origins: str = ""
    webchat_retention_days: int = Field(default=30, ge=1, le=3650)
    # The staff console (/console/): a session ends after this long unused, or this long at most.
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)

    @field_validator("clinic_timezone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("staff_telegram_ids")
    @classmethod
    def _telegram_ids(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip() and read_id(part, TELEGRAM_ID_MAX) is None:
                shown = part.strip()[:24]
                raise ValueError(f"{shown!r} is not a Telegram user id (1 to 19 digits)")
        return value

    @field_validator("webchat_allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for part in value.split(","):
            origin = part.strip()
            if origin and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin[:60]!r} is not an origin like https://clinic.example")
        return value

    @property
    def webchat_origins(self) -> frozenset[str]:
        """Return the origins in WEBCHAT_ALLOWED_ORIGINS, lower-cased."""
        parts = self.webchat_allowed_origins.split(",")
        return frozenset(part.strip().lower() for part in parts if part.strip())

    @property
    def staff_ids(self) -> tuple[int, ...]:
        """Return the Telegram user ids in STAFF_TELEGRAM_IDS."""
        return tuple(int(part) for part in self.staff_telegram_ids.split(",") if part.strip())

    @property
    def has_twilio(self) -> bool:
        """Say whether the Twilio credentials are present."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def require_channel(self) -> None:
        """Raise ConfigError unless at least one patient channel is configured."""
        if not self.telegram_bot_token and not self.has_twilio and not self.webchat_enabled:
            missing = "TWILIO_AUTH_TOKEN" if self.twilio_account_sid else "TELEGRAM_BOT_TOKEN"
            raise ConfigError(
                f"{missing} is not set: `clinicbot run` needs TELEGRAM_BOT_TOKEN, or "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or WEBCHAT_ENABLED=true, to serve "
                "patients"
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation failure into a one-line ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "setting"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
