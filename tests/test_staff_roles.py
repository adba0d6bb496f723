"""Who is staff: staff commands do not exist for anyone else; staff changes are audited."""

from __future__ import annotations

import asyncio
from itertools import count
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from bot.db.models import AuditEntry, StaffRole
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.staff.roles import add_staff, remove_staff
from tests.conftest import FakeClock
from tests.staff_support import STRANGER, group_update, staff_harness, to_chat

PATIENT_USER = 5550001  # the private_text payload's sender
STAFF_COMMANDS = ("/stats", "/close", "/close 1", "/broadcast", "/broadcasts")
_ids = count(400_000_001)


async def test_a_patient_trying_every_staff_command_gets_the_unknown_command_reply(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("/human")  # a ticket exists, so /close 1 has something to close
        await harness.say("/nosuchcommand")
        unknown = to_chat(harness)[-1]
        assert unknown.startswith(answerer.content.message("help", "en").text[:40])
        for command in STAFF_COMMANDS:
            calls = await harness.say(command)
            assert [call.text for call in calls] == [unknown], command
        # In the staff group a stranger is not obeyed at all, not even answered.
        for command in (*STAFF_COMMANDS, "hello"):
            update = group_update(next(_ids), command, user_id=STRANGER, reply_to=501)
            assert await harness.process(update) == [], command
    async with db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert "ticket.closed" not in actions


async def test_the_role_is_checked_on_every_call(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        async with db.session() as session, session.begin():
            await add_staff(session, PATIENT_USER, StaffRole.ADMIN, actor="cli", now=clock())
        [stats] = await harness.say("/stats")
        assert stats.text.startswith("Patients: 0 (Telegram 0, SMS 0)")  # staff are not patients
        async with db.session() as session, session.begin():
            assert await remove_staff(session, PATIENT_USER, actor="cli", now=clock())
        [refused] = await harness.say("/stats")
        assert refused.text.startswith(answerer.content.message("help", "en").text[:40])


def _count_audit(url: str) -> list[tuple[str, str, str | None]]:
    async def read() -> list[tuple[str, str, str | None]]:
        database = Database.open(url)
        try:
            async with database.session() as session:
                rows = await session.execute(
                    select(AuditEntry.actor, AuditEntry.action, AuditEntry.target).order_by(
                        AuditEntry.id
                    )
                )
                return [(actor, action, target) for actor, action, target in rows]
        finally:
            await database.close()

    return asyncio.run(read())


def test_staff_are_managed_from_the_cli_and_every_change_is_audited(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'clinic.db'}"
    runner = CliRunner()
    env = {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"}

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.output

    assert run("staff", "add", "42", "--role", "admin", "--name", "Mei") == (
        0,
        "staff 42: admin\n",
    )
    assert run("staff", "add", "43") == (0, "staff 43: staff\n")
    assert run("staff", "list") == (0, "42\tadmin\tMei\n43\tstaff\n")
    assert run("staff", "remove", "43") == (0, "staff 43: removed\n")
    code, output = run("staff", "remove", "43")
    assert code == 1 and "43 is not staff" in output
    assert run("staff", "add", "--role", "owner", "44")[0] == 2  # a clear usage error
    assert run("staff", "list") == (0, "42\tadmin\tMei\n")
    assert _count_audit(url) == [
        ("cli", "staff.add", "staff:42"),
        ("cli", "staff.add", "staff:43"),
        ("cli", "staff.remove", "staff:43"),
    ]
    code, output = run("audit", "--limit", "2")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].split("\t")[1:4] == ["cli", "staff.remove", "staff:43"]
    assert lines[1].split("\t")[1:] == ["cli", "staff.add", "staff:43", "staff"]
    code, output = run("stats")
    assert code == 0 and output.startswith("Patients: 0 (Telegram 0, SMS 0)")
