"""Shared pieces of the console tests: a clinic's data, and sign-in links from the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import cli
from bot.db.models import (
    Address,
    Appointment,
    Consent,
    ConsentCategory,
    MessageLog,
    PainScore,
    Patient,
    PatientTag,
    StaffRole,
    Ticket,
    TicketStatus,
)
from handlers.staff import add_staff

__all__ = ["ADMIN", "MEMBER", "cli_link", "run_cli", "seed_clinic", "token_of"]

ADMIN, MEMBER = 4242, 4343
ANA_CHAT = 555001


def run_cli(database_url: str, *args: str) -> tuple[int, str]:
    """Run `clinicbot ARGS` on the database; return (exit code, output)."""
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def cli_link(database_url: str, staff_id: int) -> str:
    """Return the sign-in link `clinicbot staff link ID` prints."""
    code, output = run_cli(database_url, "staff", "link", str(staff_id))
    assert code == 0, output
    return output.strip()


def token_of(link: str) -> str:
    """Return the token in a sign-in link."""
    return parse_qs(urlsplit(link).query)["t"][0]


async def seed_clinic(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Add two staff, patients on Telegram and SMS, an open ticket, messages and pain scores."""
    await add_staff(session, ADMIN, StaffRole.ADMIN, actor="test", now=now, name="Mei")
    await add_staff(session, MEMBER, StaffRole.STAFF, actor="test", now=now, name="Raj")
    ana = Patient(name="Ana Lopez", language="es", created_at=now, updated_at=now)
    bo = Patient(name="Bo Chen", language="en", created_at=now, updated_at=now)
    session.add_all([ana, bo])
    await session.flush()
    session.add_all(
        [
            Address(
                patient_id=ana.id,
                urn=f"telegram:{ANA_CHAT}",
                scheme="telegram",
                reachable=True,
                created_at=now,
            ),
            Address(
                patient_id=bo.id, urn="tel:+14155550123", scheme="tel", reachable=True,
                created_at=now,
            ),
        ]
    )  # fmt: skip
    for patient in (ana, bo):
        for category in ConsentCategory:
            session.add(
                Consent(
                    patient_id=patient.id,
                    category=category,
                    granted=True,
                    source="test",
                    recorded_at=now,
                )
            )
    session.add(PatientTag(patient_id=ana.id, tag="knee"))
    visit = Appointment(
        patient_id=ana.id,
        external_uid="seed-1",
        starts_at=now + timedelta(days=2),
        practitioner="Dr. Wu",
        created_at=now,
        updated_at=now,
    )
    session.add(visit)
    for day, score in enumerate((8, 7, 7, 5, 4, 3)):
        when = now - timedelta(days=30 - 5 * day)
        session.add(PainScore(patient_id=ana.id, score=score, recorded_at=when))
    ticket = Ticket(
        patient_id=ana.id,
        status=TicketStatus.OPEN,
        reason="human",
        channel="telegram",
        opened_at=now - timedelta(minutes=10),
    )
    session.add(ticket)
    session.add(
        MessageLog(
            patient_id=ana.id,
            direction="in",
            channel="telegram",
            kind="text",
            status="received",
            body="Can I move my Thursday visit?",
            created_at=now - timedelta(minutes=9),
        )
    )
    await session.flush()
    return {"ana": ana.id, "bo": bo.id, "ticket": ticket.id, "visit": visit.id}
