"""Process logging: our ids-only records, and libraries kept from logging private data."""

from __future__ import annotations

import logging

__all__ = ["QUIET_LIBRARIES", "configure_logging"]

# These log SQL parameters (phone numbers, message text) or request URLs (the bot token)
# at DEBUG or INFO; they stay at WARNING whatever LOG_LEVEL says.
QUIET_LIBRARIES = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "telegram",
    "twilio",
    "apscheduler",
)


def configure_logging(level: str) -> None:
    """Log at `level` to stderr, keeping chatty libraries at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
