"""SQLite through the one-trip cursor: what a statement returns, and one thread call each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine

_meta = MetaData()
_rows = Table(
    "rows", _meta, Column("id", Integer, primary_key=True), Column("key", String, unique=True)
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/driver.db")
    async with engine.begin() as connection:
        await connection.run_sync(_meta.create_all)
    yield engine
    await engine.dispose()


async def test_statements_return_rows_ids_and_counts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await connection.execute(insert(_rows).values(key="a"))
        assert first.inserted_primary_key == (1,)
        many = await connection.execute(insert(_rows), [{"key": "b"}, {"key": "c"}])
        assert many.rowcount == 2
        skip = sqlite_insert(_rows).values(key="a").on_conflict_do_nothing()
        assert (await connection.execute(skip)).rowcount == 0
        keys = (await connection.execute(select(_rows.c.key).order_by(_rows.c.id))).scalars()
        assert list(keys) == ["a", "b", "c"]
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_a_failed_statement_raises_and_rolls_back(engine: AsyncEngine) -> None:
    async def twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(_rows).values(key="x"))
            await connection.execute(insert(_rows).values(key="x"))

    with pytest.raises(IntegrityError):
        await twice()
    async with engine.connect() as connection:
        assert (await connection.execute(select(_rows))).all() == []


async def test_each_statement_is_one_call_into_the_database_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await execute(self, fn, *args, **kwargs)

    async with engine.connect() as connection:
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await connection.execute(select(_rows))
        await connection.execute(insert(_rows).values(key="y"))
        assert len(calls) == 3  # BEGIN IMMEDIATE, the select, the insert
        await connection.commit()
        assert calls[3:] == ["commit"]
