"""Phone numbers: parse what people type into E.164, and turn it into a `tel:` address URN."""

from __future__ import annotations

import phonenumbers

__all__ = ["InvalidPhoneNumberError", "parse_phone", "phone_of", "tel_urn"]

TEL_PREFIX = "tel:"


class InvalidPhoneNumberError(ValueError):
    """A phone number that cannot be read or cannot exist; the message is one line."""


def parse_phone(raw: str, region: str = "US") -> str:
    """Return `raw` as an E.164 number (+15035550142), reading national numbers in `region`."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumberError("phone number is empty")
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumberError(
            "not a phone number: write it with a country code, e.g. +15035550142"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumberError(
            "not a valid phone number: check the digits and the country code"
        )
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def tel_urn(raw: str, region: str = "US") -> str:
    """Return the address URN (`tel:+15035550142`) for a phone number."""
    return TEL_PREFIX + parse_phone(raw, region)


def phone_of(urn: str) -> str:
    """Return the E.164 number inside a `tel:` URN; InvalidPhoneNumberError if it holds none."""
    if not urn.startswith(TEL_PREFIX):
        raise InvalidPhoneNumberError("not an SMS address: it must start with tel:")
    number = urn.removeprefix(TEL_PREFIX)
    if parse_phone(number) != number:
        raise InvalidPhoneNumberError("SMS address is not in E.164 form (+ and digits)")
    return number
