"""Phone numbers: E.164 from what people type, one-line errors for the rest."""

from __future__ import annotations

import pytest

from bot.channels.sms.config import SmsConfig
from bot.errors import ConfigError
from handlers.phone import InvalidPhoneNumberError, parse_phone, phone_of, tel_urn
from tests.sms_support import sms_settings


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(503) 555-0142", "US", "+15035550142"),
        ("503.555.0142", "us", "+15035550142"),
        ("+34 612 345 678", "US", "+34612345678"),
        ("612 345 678", "ES", "+34612345678"),
    ],
)
def test_numbers_are_stored_as_e164(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, region) == e164
    assert tel_urn(raw, region) == f"tel:{e164}"
    assert phone_of(f"tel:{e164}") == e164


@pytest.mark.parametrize("raw", ["", "abc", "123", "+1 555 0000"])
def test_malformed_numbers_get_one_line(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumberError) as info:
        parse_phone(raw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("urn", ["telegram:1", "tel:5035550142", "tel:"])
def test_sms_addresses_must_hold_e164(urn: str) -> None:
    with pytest.raises(InvalidPhoneNumberError):
        phone_of(urn)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"twilio_from_number": "12", "twilio_messaging_service_sid": None}, "TWILIO_FROM_NUMBER"),
        ({"public_url": None}, "PUBLIC_URL"),
        ({"twilio_account_sid": "AC123"}, "TWILIO_ACCOUNT_SID"),
        ({"twilio_messaging_service_sid": None}, "TWILIO_MESSAGING_SERVICE_SID or"),
    ],
)
def test_bad_twilio_settings_stop_start_up_with_one_line(
    overrides: dict[str, object], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        SmsConfig.from_settings(sms_settings("sqlite://", **overrides))
    assert str(info.value).startswith(names) and "\n" not in str(info.value)
