"""`clinicbot broadcast`, `broadcasts` and `tag` as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import utc_now
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, Broadcast, ConsentCategory, Delivery
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.delivery.consent import opt_in
from tests.test_cli import clinicbot


async def _seed(url: str) -> None:
    database = Database.open(url)
    try:
        await upgrade(database.engine)
        async with database.session() as session, session.begin():
            for urn in ("telegram:8001", "tel:+15550008002"):
                patient, _, _ = await find_or_create_patient(session, urn, now=utc_now())
                await opt_in(
                    session, patient.id, tuple(ConsentCategory), source="t", now=utc_now()
                )
    finally:
        await database.close()


async def _count(url: str, model: type[object]) -> int:
    database = Database.open(url)
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await database.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_seed(url))
    return {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"}


def test_dry_run_prints_the_preview_and_changes_nothing(env: dict[str, str]) -> None:
    result = clinicbot(
        "broadcast", "--text", "Closed Friday", "--text-es", "Cerrado el viernes",
        "--audience", "all", "--dry-run", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 on Telegram, 1 by SMS" in result.stdout and "Reply STOP to opt out" in result.stdout
    assert asyncio.run(_count(env["DATABASE_URL"], Broadcast)) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--text", "Hi", "--audience", "everyone"), "unknown audience 'everyone'"),
        (("--text", "Hi", "--audience", "all", "--at", "2020-01-01T09:00"), "in the past"),
        (("--text", "Hi", "--audience", "all", "--at", "soon"), "not an ISO time"),
        (("--text", "x" * 5000, "--audience", "all"), "the limit is 1000"),
        (("--text", " ", "--audience", "all"), "English text is empty"),
        (("--audience", "all"), "exactly one of --text or --file"),
    ],
)
def test_bad_requests_are_one_line_exit_2(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = clinicbot("broadcast", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert asyncio.run(_count(env["DATABASE_URL"], Broadcast)) == 0


def test_create_list_cancel_and_tags_are_audited(env: dict[str, str], tmp_path: Path) -> None:
    text = tmp_path / "closure.md"
    text.write_text("We are closed on **Dec 24**.", encoding="utf-8")
    result = clinicbot(
        "broadcast", "--file", str(text), "--audience", "channel=sms",
        "--at", "2099-12-23T09:00", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("broadcast #1: 1 recipients, sending at 2099-12-23")
    assert asyncio.run(_count(env["DATABASE_URL"], Delivery)) == 1
    listing = clinicbot("broadcasts", env=env)
    assert "#1 scheduled" in listing.stdout and "by cli" in listing.stdout
    cancelled = clinicbot("broadcasts", "--cancel", "1", env=env)
    assert cancelled.stdout.strip() == "Broadcast #1 cancelled: 1 messages will not go out."
    again = clinicbot("broadcasts", "--cancel", "1", env=env)
    assert again.returncode == 2 and "already cancelled" in again.stderr
    report = clinicbot("broadcasts", "--report", "1", env=env)
    assert "cancelled: 1 (Telegram 0, SMS 1)" in report.stdout

    assert clinicbot("tag", "add", "telegram:8001", "knee", env=env).stdout.strip() == "tagged"
    assert clinicbot("tag", "list", env=env).stdout.strip() == "patient 1: knee"
    assert clinicbot("tag", "remove", "telegram:8001", "knee", env=env).stdout.strip() == "removed"
    unknown = clinicbot("tag", "add", "telegram:9", "knee", env=env)
    assert unknown.returncode == 2 and "no patient has the address" in unknown.stderr
    assert asyncio.run(_count(env["DATABASE_URL"], AuditEntry)) == 4
