"""The clinic's time zone, resolved one way everywhere: CLINIC_TIMEZONE, else clinic.yaml.

`clinic_zone` is the only resolver. `with_clinic_zone` is applied once when the content is
loaded for a running process (bot.app), so code that holds only the content's clinic facts
(hand-off hours, SMS summaries) sees the same zone as code that holds the settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ContentError
from content.store import ContentStore

__all__ = ["clinic_zone", "clinic_zone_name", "with_clinic_zone"]


def clinic_zone(clinic: Mapping[str, Any], setting: str | None = None) -> ZoneInfo:
    """Return the CLINIC_TIMEZONE setting if set, else clinic.yaml's `timezone`.

    ContentError (one line) when neither names an IANA zone; both are validated at start-up
    (settings and `clinicbot content check`), so a running process never sees it.
    """
    name = setting or clinic.get("timezone")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ContentError(
            f"no usable clinic time zone: set CLINIC_TIMEZONE or `timezone` in clinic.yaml "
            f"(got {name!r})"
        ) from None


def clinic_zone_name(clinic: Mapping[str, Any], setting: str | None = None) -> str:
    """Return the clinic's zone as its IANA name (for display and stored defaults)."""
    return clinic_zone(clinic, setting).key


def with_clinic_zone(content: ContentStore, setting: str | None) -> ContentStore:
    """Return the content with its clinic facts carrying the resolved zone."""
    zone = clinic_zone_name(content.clinic, setting)
    if content.clinic.get("timezone") == zone:
        return content
    return dataclasses.replace(content, clinic={**content.clinic, "timezone": zone})
