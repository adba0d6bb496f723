"""Ids people type (a ticket, a broadcast, a Telegram user): read only within their columns."""

from __future__ import annotations

__all__ = ["ROW_ID_MAX", "TELEGRAM_ID_MAX", "read_id"]

# Row ids are INTEGER columns: 32 bits on PostgreSQL. A larger number names no row, and the
# database refuses it as a parameter (asyncpg: out of int32 range; SQLite: over 64 bits).
ROW_ID_MAX = 2**31 - 1
# Telegram user and chat ids are BIGINT columns (Telegram's own ids use at most 52 bits).
TELEGRAM_ID_MAX = 2**63 - 1


def read_id(text: str, maximum: int = ROW_ID_MAX) -> int | None:
    """Return the id written as ASCII digits, or None when no row can have it (0, too large)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None
