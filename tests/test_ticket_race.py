"""One open hand-off ticket per patient: the index, racing requests, and migration 0006."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import handlers.staff.tickets
from bot.db.migrate import current_revision, head_revision, upgrade
from bot.db.models import AuditEntry, Base, Patient, Ticket, TicketStatus
from bot.db.session import Database
from handlers.staff.tickets import open_ticket
from tests.conftest import migrate_to

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# The partial unique index, as PostgreSQL and SQLite name it in the error.
ONE_OPEN = r"ix_tickets_patient_open|UNIQUE constraint failed: tickets\.patient_id"


async def _patient(db: Database, name: str = "Ana") -> int:
    async with db.session() as session, session.begin():
        patient = Patient(name=name, created_at=NOW, updated_at=NOW)
        session.add(patient)
        await session.flush()
        return patient.id


async def _open_in_own_session(db: Database, patient_id: int) -> tuple[int, bool]:
    async with db.session() as session, session.begin():
        ticket, created = await open_ticket(
            session, patient_id, reason="human", channel="telegram", now=NOW
        )
        return ticket.id, created


async def _open_tickets(db: Database) -> list[tuple[int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Ticket.id, Ticket.patient_id)
            .where(Ticket.status == TicketStatus.OPEN)
            .order_by(Ticket.id)
        )
        return [(ident, patient_id) for ident, patient_id in rows]


async def _audited_openings(db: Database) -> int:
    async with db.session() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "ticket.opened")
        )
    return int(found or 0)


async def test_two_concurrent_requests_share_one_open_ticket(db: Database) -> None:
    patient_id = await _patient(db)
    first, second = await asyncio.gather(
        _open_in_own_session(db, patient_id), _open_in_own_session(db, patient_id)
    )
    assert first[0] == second[0]
    assert sorted([first[1], second[1]]) == [False, True]  # one opened it, one found it
    assert await _open_tickets(db) == [(first[0], patient_id)]
    assert await _audited_openings(db) == 1


async def test_the_request_that_loses_the_insert_race_returns_the_winners_ticket(
    db: Database,
) -> None:
    """Both requests read "no open ticket" before either commits; both insert."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE): the two reads cannot interleave")
    patient_id = await _patient(db)
    inserting = asyncio.Event()

    def _watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TICKETS"):
            inserting.set()

    async with db.session() as winner:
        await winner.begin()
        won, created = await open_ticket(
            winner, patient_id, reason="human", channel="telegram", now=NOW
        )
        assert created
        # Only now listen: the next ticket insert is the loser's, after its read found nothing
        # (the winner has not committed). It waits on the winner's index entry.
        event.listen(db.engine.sync_engine, "before_cursor_execute", _watch)
        loser = asyncio.create_task(_open_in_own_session(db, patient_id))
        watching = asyncio.create_task(inserting.wait())
        try:
            await asyncio.wait({loser, watching}, return_when=asyncio.FIRST_COMPLETED)
            assert inserting.is_set(), "the loser finished without trying to insert"
            await winner.commit()
            lost = await loser
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", _watch)
            watching.cancel()
    assert lost == (won.id, False)
    assert await _open_tickets(db) == [(won.id, patient_id)]
    assert await _audited_openings(db) == 1


async def test_a_stale_read_falls_back_to_the_ticket_already_open(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert fails on the index; the savepoint alone rolls back, not the caller's work."""
    patient_id = await _patient(db)
    existing, _ = await _open_in_own_session(db, patient_id)
    real: Callable[[AsyncSession, int], Awaitable[Ticket | None]] = (
        handlers.staff.tickets.open_ticket_of
    )
    calls: list[int] = []

    async def _misses_once(session: AsyncSession, patient: int) -> Ticket | None:
        calls.append(patient)
        return None if len(calls) == 1 else await real(session, patient)

    monkeypatch.setattr(handlers.staff.tickets, "open_ticket_of", _misses_once)
    async with db.session() as session, session.begin():
        other = Patient(name="Bo", created_at=NOW, updated_at=NOW)
        session.add(other)
        await session.flush()
        ticket, created = await open_ticket(
            session, patient_id, reason="reschedule", channel="sms", now=NOW
        )
        assert (ticket.id, created, ticket.reason) == (existing, False, "human")
        again, created_again = await open_ticket(
            session, other.id, reason="human", channel="sms", now=NOW
        )
        assert created_again
    assert calls[:2] == [patient_id, patient_id]
    assert await _open_tickets(db) == [(existing, patient_id), (again.id, other.id)]
    assert await _audited_openings(db) == 2


async def test_the_database_holds_at_most_one_open_ticket_per_patient(db: Database) -> None:
    ana, bo = await _patient(db, "Ana"), await _patient(db, "Bo")

    def ticket(patient_id: int, status: TicketStatus = TicketStatus.OPEN) -> Ticket:
        return Ticket(
            patient_id=patient_id, status=status, reason="human", channel="sms", opened_at=NOW
        )

    async with db.session() as session, session.begin():
        session.add_all(
            [
                ticket(ana),
                ticket(ana, TicketStatus.CLOSED),
                ticket(ana, TicketStatus.CLOSED),
                ticket(bo),
            ]
        )
    async with db.session() as session:
        session.add(ticket(ana))
        with pytest.raises(IntegrityError, match=ONE_OPEN):
            await session.commit()


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    def ticket_indexes(connection: Connection) -> dict[str, bool]:
        found = inspect(connection).get_indexes("tickets")
        return {str(index["name"]): bool(index["unique"]) for index in found}

    async with db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        indexes = await connection.run_sync(ticket_indexes)
    assert indexes["ix_tickets_patient_open"] is True


async def test_migration_0006_keeps_one_open_ticket_per_patient_and_closes_the_rest(
    database_url: str,
) -> None:
    database = Database.open(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda c: migrate_to(c, "0005"))
            await connection.execute(
                text(
                    "INSERT INTO patients (name, status, created_at, updated_at) VALUES "
                    "('Ana', 'active', '2026-01-01', '2026-01-01'), "
                    "('Bo', 'active', '2026-01-01', '2026-01-01')"
                )
            )
            found = await connection.execute(text("SELECT name, id FROM patients"))
            ids: dict[str, int] = {str(name): int(ident) for name, ident in found}
            ana, bo = ids["Ana"], ids["Bo"]
            # Ana's two messages raced: two open tickets. Bo's is fine; a closed one stays.
            for patient_id, status, closed_by in (
                (ana, "closed", "'staff:9'"),
                (ana, "open", "NULL"),
                (ana, "open", "NULL"),
                (bo, "open", "NULL"),
            ):
                closed_at = "'2026-01-03'" if status == "closed" else "NULL"
                await connection.execute(
                    text(
                        "INSERT INTO tickets (patient_id, status, reason, channel, opened_at, "
                        f"closed_at, closed_by) VALUES (:patient, '{status}', 'human', 'sms', "
                        f"'2026-02-01 10:00:00', {closed_at}, {closed_by})"
                    ),
                    {"patient": patient_id},
                )
            before = (await connection.execute(text("SELECT id FROM tickets ORDER BY id"))).all()
        old, first, second, bos = (int(row[0]) for row in before)
        await upgrade(database.engine)
        assert await current_revision(database.engine) == head_revision()
        async with database.session() as session:
            tickets = {t.id: t for t in await session.scalars(select(Ticket))}
            audits = (await session.scalars(select(AuditEntry))).all()
        assert {i: t.status for i, t in tickets.items()} == {
            old: "closed",
            first: "open",  # the one open_ticket_of has been routing Ana's messages to
            second: "closed",
            bos: "open",
        }
        assert tickets[old].closed_by == "staff:9"
        closed = tickets[second]
        assert closed.closed_by == "migration:0006"
        assert closed.closed_at is not None and closed.closed_at.tzinfo == UTC
        assert [(a.actor, a.action, a.target, a.detail) for a in audits] == [
            (
                "migration:0006",
                "ticket.closed",
                f"ticket:{second}",
                f"duplicate open ticket; kept=ticket:{first}",
            )
        ]
        async with database.session() as session:  # and the index now holds
            session.add(Ticket(patient_id=ana, reason="human", channel="sms", opened_at=NOW))
            with pytest.raises(IntegrityError, match=ONE_OPEN):
                await session.commit()
        async with database.engine.begin() as connection:  # down and up again
            await connection.run_sync(lambda c: migrate_to(c, "0005", down=True))
        await upgrade(database.engine)
        assert await current_revision(database.engine) == head_revision()
    finally:
        await database.close()
