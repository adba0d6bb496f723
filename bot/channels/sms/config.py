"""The SMS channel's settings, checked once: credentials, sender, public URLs, quiet hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.errors import ConfigError
from bot.settings import Settings
from handlers.phone import InvalidPhoneNumberError, parse_phone

__all__ = ["INBOUND_PATH", "STATUS_PATH", "SmsConfig"]

INBOUND_PATH = "/sms/inbound"
STATUS_PATH = "/sms/status"
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class SmsConfig:
    """Everything the SMS channel reads from settings, validated."""

    account_sid: str
    auth_token: str
    public_url: str  # no trailing slash
    messaging_service_sid: str | None
    from_number: str | None
    api_base_url: str
    region: str
    clinic_zone: ZoneInfo | None  # None until the content's time zone is known
    quiet_start: time
    quiet_end: time
    store_bodies: bool = False
    # Twilio queues what a sender cannot send at once; pacing here keeps that queue short.
    messages_per_second: float = 1.0

    @property
    def status_callback(self) -> str:
        """Return the URL Twilio posts delivery statuses to."""
        return self.public_url + STATUS_PATH

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig:
        """Check the Twilio settings; raise ConfigError naming the first bad one."""
        sid, token = settings.twilio_account_sid or "", settings.twilio_auth_token
        if not _ACCOUNT_SID.match(sid):
            raise ConfigError("TWILIO_ACCOUNT_SID: must be AC followed by 32 hex digits")
        if token is None or not token.get_secret_value():
            raise ConfigError("TWILIO_AUTH_TOKEN is not set")
        public = (settings.public_url or "").rstrip("/")
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "PUBLIC_URL: SMS needs the public https URL Twilio calls, e.g. https://bot.example"
            )
        service = settings.twilio_messaging_service_sid
        if service is not None and not _SERVICE_SID.match(service):
            raise ConfigError("TWILIO_MESSAGING_SERVICE_SID: must be MG followed by 32 hex digits")
        number = None
        if settings.twilio_from_number:
            try:
                number = parse_phone(settings.twilio_from_number, settings.default_region)
            except InvalidPhoneNumberError as exc:
                raise ConfigError(f"TWILIO_FROM_NUMBER: {exc}") from None
        if service is None and number is None:
            raise ConfigError(
                "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER is not set: SMS needs a sender"
            )
        return cls(
            account_sid=sid,
            auth_token=token.get_secret_value(),
            public_url=public,
            messaging_service_sid=service,
            from_number=number,
            api_base_url=settings.twilio_api_base_url,
            region=settings.default_region,
            clinic_zone=ZoneInfo(settings.clinic_timezone) if settings.clinic_timezone else None,
            quiet_start=settings.quiet_hours_start,
            quiet_end=settings.quiet_hours_end,
            store_bodies=settings.store_message_bodies,
            messages_per_second=settings.sms_messages_per_second,
        )
