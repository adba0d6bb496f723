"""INSERT ... ON CONFLICT for the backend in use (SQLite and PostgreSQL spell it alike)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for"]


def insert_for(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT into `table` that can take `on_conflict_do_nothing/do_update`.

    Rows keyed by a unique constraint (a patient's consent per category, say) are written with
    one statement instead of read-then-insert, which loses a race: two transactions both read
    "no row", both insert, and the second fails on the unique key.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
