"""Storage on SQLite and PostgreSQL: migrations, patients, addresses, consent, times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from bot.db.dedupe import first_delivery
from bot.db.engine import create_engine, parse_database_url
from bot.db.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from bot.db.models import Address, ConsentCategory, ConsentEvent, MessageLog, Patient
from bot.db.patients import (
    consents_of,
    find_or_create_patient,
    log_message,
    set_consent,
    urn_scheme,
)
from bot.db.session import Database
from bot.errors import ConfigError, StorageError
from tests.conftest import migrate_to

NOW = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
TABLES = {
    "patients",
    "addresses",
    "consents",
    "consent_events",
    "message_log",
    "appointments",
    "staff",
    "audit_log",
    "safety_events",
}


async def test_migration_creates_every_table_and_is_idempotent(db: Database) -> None:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert names >= TABLES
    await upgrade(db.engine)
    assert await current_revision(db.engine) == head_revision()


async def test_a_patient_is_created_once_per_address(db: Database) -> None:
    async with db.session() as session, session.begin():
        patient, address, created = await find_or_create_patient(
            session, "telegram:42", now=NOW, name="Ana"
        )
        assert created and address.scheme == "telegram" and address.reachable
    async with db.session() as session, session.begin():
        again, _, created_again = await find_or_create_patient(session, "telegram:42", now=NOW)
        assert not created_again and again.id == patient.id and again.name == "Ana"
        count = await session.scalar(select(func.count()).select_from(Patient))
    assert count == 1


async def test_a_patient_may_have_several_addresses_but_each_is_unique(db: Database) -> None:
    async with db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, "telegram:7", now=NOW)
        session.add(
            Address(patient_id=patient.id, urn="tel:+15035550100", scheme="tel", created_at=NOW)
        )
    async with db.session() as session:
        rows = (
            await session.execute(select(Address.urn).where(Address.patient_id == patient.id))
        ).scalars()
        assert set(rows) == {"telegram:7", "tel:+15035550100"}
        session.add(
            Address(patient_id=patient.id, urn="tel:+15035550100", scheme="tel", created_at=NOW)
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_consent_keeps_current_state_and_history(db: Database) -> None:
    async with db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, "tel:+15035550101", now=NOW)
        await set_consent(
            session, patient.id, ConsentCategory.TIPS, granted=True, source="sms:yes", now=NOW
        )
        later = NOW + timedelta(days=3)
        await set_consent(
            session, patient.id, ConsentCategory.TIPS, granted=False, source="sms:stop", now=later
        )
        await set_consent(
            session,
            patient.id,
            ConsentCategory.APPOINTMENTS,
            granted=True,
            source="sms:yes",
            now=NOW,
        )
    async with db.session() as session:
        assert await consents_of(session, patient.id) == {
            ConsentCategory.TIPS: False,
            ConsentCategory.APPOINTMENTS: True,
        }
        events = (
            (await session.execute(select(ConsentEvent).order_by(ConsentEvent.id))).scalars().all()
        )
    assert [(e.category, e.granted, e.source) for e in events] == [
        ("tips", True, "sms:yes"),
        ("tips", False, "sms:stop"),
        ("appointments", True, "sms:yes"),
    ]
    assert events[1].recorded_at == NOW + timedelta(days=3)


async def test_times_come_back_aware_and_in_utc(db: Database) -> None:
    pacific = timezone(timedelta(hours=-8))
    local = datetime(2026, 11, 1, 1, 30, tzinfo=pacific)
    async with db.session() as session, session.begin():
        await log_message(
            session, patient_id=None, direction="in", channel="sms", status="received", now=local
        )
    async with db.session() as session:
        stored = await session.scalar(select(MessageLog.created_at))
    assert stored == local and stored is not None and stored.tzinfo == UTC


async def test_a_database_from_a_newer_version_is_refused(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="newer than this clinicbot"):
        await upgrade(db.engine)
    async with db.engine.connect() as connection:
        assert (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar() == "9999"


async def test_a_failed_migration_leaves_nothing_half_written(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'x.db'}")
    async with (
        database.engine.begin() as connection
    ):  # a stray table the migration will collide with
        await connection.execute(text("CREATE TABLE staff (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StorageError):
        await upgrade(database.engine)
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await database.close()
    assert names == {"staff"}


def test_plain_urls_get_the_async_driver() -> None:
    assert parse_database_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_a_malformed_or_unsupported_url_is_one_clear_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_engine(url)


def test_an_unwritable_data_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="cannot create data directory"):
        create_engine(f"sqlite:///{blocker / 'data' / 'x.db'}")


async def test_an_unreachable_server_is_one_clear_error() -> None:
    database = Database.open("postgresql+asyncpg://nobody:secret@127.0.0.1:9/none")
    with pytest.raises(StorageError) as caught:
        await upgrade(database.engine)
    await database.close()
    message = str(caught.value)
    assert "cannot use the database" in message and "secret" not in message
    assert "\n" not in message


@pytest.mark.parametrize("urn", ["", "telegram", "telegram:", ":42", "te-l:1"])
def test_malformed_urns_are_rejected(urn: str) -> None:
    with pytest.raises(ValueError, match="not an address URN"):
        urn_scheme(urn)


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'wal.db'}")
    async with database.engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
    await database.close()
    assert (mode, keys) == ("wal", 1)


async def test_migrations_upgrade_a_database_that_already_holds_patients(
    database_url: str,
) -> None:
    database = Database.open(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda c: migrate_to(c, "0001"))
        await connection.execute(
            text(
                "INSERT INTO patients (name, status, created_at, updated_at) "
                "VALUES ('Ana', 'active', '2026-01-01', '2026-01-01')"
            )
        )
    await upgrade(database.engine)
    async with database.session() as session:
        patient = await session.scalar(select(Patient))
    await database.close()
    assert patient is not None and patient.reminders_paused is False


async def test_concurrent_transactions_take_turns_without_losing_an_update(db: Database) -> None:
    # Twenty read-modify-write transactions at once: on SQLite they queue for the one pooled
    # connection, on PostgreSQL the row lock orders them; none fails, none is lost.
    async with db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, "tel:+15035550123", now=NOW)
        patient.name = "0"

    async def increment() -> None:
        async with db.session() as session, session.begin():
            row = await session.get(Patient, patient.id, with_for_update=True)
            assert row is not None and row.name is not None
            await asyncio.sleep(0)  # let the others try to get in between the read and write
            row.name = str(int(row.name) + 1)

    await asyncio.gather(*(increment() for _ in range(20)))
    async with db.session() as session:
        assert (await session.get(Patient, patient.id)) is not None
        name = await session.scalar(select(Patient.name).where(Patient.id == patient.id))
    assert name == "20"


async def test_a_file_database_keeps_one_connection_so_writers_queue_in_order(
    tmp_path: Path,
) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        assert database.engine.pool.size() == 1
    finally:
        await database.close()


async def test_an_inbound_event_is_recorded_once_per_channel(db: Database) -> None:
    async with db.session() as session, session.begin():
        assert await first_delivery(session, "sms", "SM1", now=NOW)
        assert not await first_delivery(session, "sms", "SM1", now=NOW)
        assert await first_delivery(session, "telegram", "SM1", now=NOW)
    async with db.session() as session, session.begin():
        assert not await first_delivery(session, "sms", "SM1", now=NOW)  # after the commit too


async def test_nul_characters_are_stored_as_replacement_characters(db: Database) -> None:
    """PostgreSQL refuses NUL in text (SQLite took it): every text parameter is cleaned."""
    now = datetime(2026, 3, 2, tzinfo=UTC)
    async with db.session() as session, session.begin():
        patient = Patient(name="A\x00na", created_at=now, updated_at=now)
        session.add(patient)
        await session.flush()
        session.add_all(
            MessageLog(
                patient_id=patient.id,
                direction="in",
                channel="sms",
                status="received",
                body=body,
                created_at=now,
            )
            for body in ("\x00", "two\x00\x00nuls", "none", "lone \ud800 surrogate")
        )
    async with db.session() as session:
        assert await session.scalar(select(Patient.name)) == "A\ufffdna"
        bodies = list(await session.scalars(select(MessageLog.body).order_by(MessageLog.id)))
        # a lookup cleans its parameters the same way, so it finds what was stored
        found = await session.scalar(select(Patient.id).where(Patient.name == "A\x00na"))
    assert bodies == ["\ufffd", "two\ufffd\ufffdnuls", "none", "lone \ufffd surrogate"]
    assert found == patient.id


async def test_migration_messages_appear_only_when_a_migration_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}")
    try:
        with caplog.at_level("INFO", logger="alembic"):
            await upgrade(database.engine)
        first = [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
        caplog.clear()
        with caplog.at_level("INFO", logger="alembic"):
            await upgrade(database.engine)
        second = [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
    finally:
        await database.close()
    assert len(first) == len(list((MIGRATIONS_DIR / "versions").glob("0*.py")))
    assert all(line.startswith("Running upgrade") for line in first)
    assert second == []  # an up-to-date database: nothing printed at all
