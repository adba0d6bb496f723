"""aiosqlite as SQLAlchemy drives it, with one trip to the database thread per statement.

aiosqlite runs each sqlite3 call in its own thread, and SQLAlchemy's adapter makes four calls
per statement (open a cursor, execute, fetch any rows, close), each a hand-over to that thread
and back through the event loop. The cursor here does the four in one call, as SQLAlchemy's
synchronous pysqlite driver does them in the caller's thread: the same statements, the same
sqlite3 connection and transaction, a quarter of the hand-overs. It is passed to the engine as
its DBAPI module (`create_async_engine(..., module=one_trip_dbapi())`).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

__all__ = ["one_trip_dbapi"]

# description, rows, rowcount, lastrowid: what a cursor reports after a statement.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, *, many: bool
) -> _Outcome:
    """Execute one statement and read everything it returns (in the database thread)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and close are one call in the thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        thread_call: Callable[..., Awaitable[_Outcome]] = connection._execute
        async with self._adapt_connection._execute_mutex:
            outcome = await thread_call(_run, connection._conn, operation, parameters, many=many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return None  # nothing is open in the thread between calls

    def close(self) -> None:
        self._rows.clear()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return _OneTripConnection(self, stock._connection)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """Return the DBAPI module to give SQLAlchemy's aiosqlite dialect."""
    return _OneTripDbapi(aiosqlite, sqlite3)
