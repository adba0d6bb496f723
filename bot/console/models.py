"""Console tables: single-use sign-in links and sessions, both stored as token hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models import Base, UTCDateTime

__all__ = ["ConsoleLink", "ConsoleSession"]


class ConsoleLink(Base):
    """A sign-in link: the SHA-256 of its token, whose it is, until when, and when used."""

    __tablename__ = "console_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A signed-in browser: the SHA-256 of its cookie, the role it was granted, its clocks."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the absolute time-out
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_why: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_console_sessions_telegram_user_id", "telegram_user_id"),)
