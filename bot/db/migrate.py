"""Bring the schema to this version with Alembic, refusing a database from a newer version."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.session import connection_errors
from bot.errors import StorageError

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class _OnlyMigrations(logging.Filter):
    """Keep Alembic's "Running upgrade ..." lines; drop its chatter ("Context impl ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().startswith("Running ")


# Every command migrates first: a line only when a migration actually runs, one per migration.
_MIGRATION_LOG = logging.getLogger("alembic.runtime.migration")
if not any(isinstance(f, _OnlyMigrations) for f in _MIGRATION_LOG.filters):
    _MIGRATION_LOG.addFilter(_OnlyMigrations())


def alembic_config() -> Config:
    """Return an Alembic config that needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest revision this version of clinicbot knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the database's schema revision, or None if it has none yet."""
    async with connection_errors(engine), engine.connect() as connection:
        return await connection.run_sync(_current)


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    found = _current(connection)
    if found is not None:
        try:
            script.get_revision(found)
        except CommandError:
            raise StorageError(
                f"the database schema ({found}) is newer than this clinicbot knows "
                f"({script.get_current_head()}): upgrade clinicbot"
            ) from None
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Migrate the schema to head in one transaction."""
    async with connection_errors(engine), engine.begin() as connection:
        await connection.run_sync(_upgrade)
