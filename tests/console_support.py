"""Shared pieces of the console tests: a clinic's data, and sign-in links from the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from bot.channels.telegram import TelegramOptions
from bot.cli import cli
from bot.clock import utc_now
from bot.console.auth import issue_link, sign_in_url
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
from bot.settings import load_settings
from bot.web import create_app
from handlers.staff.roles import add_staff
from tests.conftest import FakeClock

__all__ = [
    "ADMIN",
    "HTTPS",
    "MEMBER",
    "Console",
    "cli_link",
    "run_cli",
    "running_console",
    "seed_clinic",
    "token_of",
]

HTTPS = "https://clinic.example"

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


@dataclass
class Console:
    app: Starlette
    url: str
    clock: FakeClock
    ids: dict[str, int]

    async def link(self, staff_id: int = ADMIN) -> str:
        """Issue a link as `staff link` does, on the app's clock (the CLI's own test below)."""
        async with self.app.state.services.db.session() as session, session.begin():
            token = await issue_link(session, staff_id, now=self.clock(), actor="cli")
        assert token is not None
        return sign_in_url(HTTPS, token)

    def client(self, base: str = HTTPS) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        headers = {"Origin": base}
        return httpx.AsyncClient(transport=transport, base_url=base, headers=headers)

    @asynccontextmanager
    async def signed_in(
        self, staff_id: int = ADMIN, base: str = HTTPS
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client(base) as client:
            token = token_of(await self.link(staff_id))
            response = await client.post("/console/signin", data={"t": token})
            assert response.status_code == 303, response.text
            yield client


@asynccontextmanager
async def running_console(
    url: str, *, telegram: TelegramOptions | None = None, **settings: object
) -> AsyncIterator[Console]:
    """Run the app (lifespan and all) on a seeded database, on a fake clock."""
    clock = FakeClock(utc_now())
    app = create_app(load_settings(database_url=url, **settings), clock=clock, telegram=telegram)
    async with app.router.lifespan_context(app):
        async with app.state.services.db.session() as session, session.begin():
            ids = await seed_clinic(session, clock())
        yield Console(app, url, clock, ids)
