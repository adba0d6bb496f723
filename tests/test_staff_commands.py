"""The staff-command registry: one declaration, roles read on every call, effects after commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import count

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, PatientTag, StaffRole, Ticket, TicketStatus
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.staff.commands import (
    COMMANDS,
    StaffEnv,
    StaffResult,
    parse_words,
    run_staff_command,
)
from handlers.staff.roles import add_staff, remove_staff
from handlers.staff.tickets import open_ticket
from tests.conftest import FakeClock
from tests.scheduler_support import LA
from tests.staff_support import (
    PATIENT_CHAT,
    STRANGER,
    group_update,
    make_staff,
    staff_harness,
    to_group,
)

NOW = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)


@pytest.fixture
def env(answerer: Answerer) -> StaffEnv:
    return StaffEnv(answerer.content, LA)


async def _run(
    db: Database, env: StaffEnv, name: str, args: Mapping[str, str] | list[str], actor: str
) -> StaffResult:
    async with db.session() as session, session.begin():
        return await run_staff_command(session, name, args, actor=actor, env=env, now=NOW)


def test_each_command_is_declared_once_with_a_role_and_a_summary() -> None:
    assert {"stats", "close", "staff_add", "tag_add", "broadcast", "broadcasts"} <= set(COMMANDS)
    for declared in COMMANDS.values():
        assert declared.summary and declared.role in set(StaffRole)
    assert parse_words("tag_add", "tel:+15035550100 knee") == {
        "urn": "tel:+15035550100",
        "name": "knee",
    }
    assert parse_words("staff_add", "42 admin Ana Lopez")["name"] == "Ana Lopez"


async def test_roles_are_read_on_every_call(db: Database, env: StaffEnv) -> None:
    async with db.session() as session, session.begin():
        await add_staff(session, 42, StaffRole.STAFF, actor="test", now=NOW)
    stats = await _run(db, env, "stats", {}, "staff:42")
    assert stats.ok and "Patients" in stats.text
    refused = await _run(db, env, "staff_add", {"telegram_user_id": "43"}, "staff:42")
    assert refused.exit_code == 1 and "admin" in refused.text
    stranger = await _run(db, env, "stats", {}, "staff:99")
    assert stranger.exit_code == 1
    async with db.session() as session, session.begin():
        await remove_staff(session, 42, actor="test", now=NOW)
    assert (await _run(db, env, "stats", {}, "staff:42")).exit_code == 1


async def test_close_is_audited_and_tells_the_patient_after_the_commit(
    db: Database, env: StaffEnv
) -> None:
    async with db.session() as session, session.begin():
        await add_staff(session, 42, StaffRole.STAFF, actor="test", now=NOW)
        patient, _, _ = await find_or_create_patient(session, "telegram:555", now=NOW)
        ticket, _ = await open_ticket(session, patient.id, reason="human", channel=None, now=NOW)
    result = await _run(db, env, "close", [str(ticket.id)], "staff:42")
    assert result.ok and f"#{ticket.id}" in result.text
    [notice] = result.notices
    assert notice.urn == "telegram:555"
    again = await _run(db, env, "close", {"ticket": str(ticket.id)}, "staff:42")
    assert again.exit_code == 1  # already closed: nothing to tell anyone
    async with db.session() as session:
        audited = await session.scalar(
            select(func.count()).where(AuditEntry.action == "ticket.closed")
        )
        status = await session.scalar(select(Ticket.status).where(Ticket.id == ticket.id))
    assert audited == 1 and status == TicketStatus.CLOSED


async def test_a_refusal_is_one_line_and_changes_nothing(db: Database, env: StaffEnv) -> None:
    async with db.session() as session, session.begin():
        await find_or_create_patient(session, "tel:+15035550100", now=NOW)
    bad = await _run(db, env, "tag_add", {"urn": "tel:+15035550100", "name": "no good"}, "cli")
    assert bad.exit_code == 2 and "\n" not in bad.text
    missing = await _run(db, env, "broadcast_cancel", {"id": "x"}, "cli")
    assert missing.exit_code == 2
    unknown = await _run(db, env, "shutdown", {}, "cli")
    assert unknown.exit_code == 2
    ok = await _run(db, env, "tag_add", ["tel:+15035550100", "knee"], "cli")
    assert ok.text == "tagged"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PatientTag)) == 1


async def test_the_staff_group_and_private_chats_run_the_declared_commands(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    ids = count(700_000_000)
    async with staff_harness(db, answerer, clock) as (harness, _):
        async with db.session() as session, session.begin():
            await find_or_create_patient(session, "tel:+15035550111", now=clock())
        await harness.process(group_update(next(ids), "/tag_add tel:+15035550111 knee"))
        await harness.process(group_update(next(ids), "/tag_list"))
        await harness.process(group_update(next(ids), "/staff_add 7003"))  # needs admin
        await harness.process(group_update(next(ids), "/tag_list", user_id=STRANGER))
        group = to_group(harness)
        assert group[0] == "tagged" and group[1].endswith(": knee")
        assert group[2] == "staff_add needs the admin role"
        assert len(group) == 3  # a stranger is ignored
        before = await harness.send("command_start", text="/tag_list")  # not staff yet
        await make_staff(db, clock, user_id=PATIENT_CHAT)
        after = await harness.send("command_start", text="/tag_list")
    assert ": knee" not in before[0].text  # to patients the command does not exist
    assert after[0].text.endswith(": knee")
    async with db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert any(action.startswith("tag") for action in actions)
