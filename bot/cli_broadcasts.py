"""The `clinicbot broadcast`, `broadcasts` and `tag` commands (actor "cli", audited)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services
from bot.cli_session import in_session
from bot.clock import utc_now
from handlers.audience import Audience, AudienceError, parse_audience
from handlers.broadcast_reports import counts_text, listing_lines, preview_text
from handlers.broadcasts import (
    BroadcastError,
    cancel_broadcast,
    create_broadcast,
    delivery_report,
    preview,
    recent_broadcasts,
)
from handlers.clinic_zone import clinic_zone
from handlers.ids import ROW_ID_MAX
from handlers.tags import TagError, add_tag, list_tags, remove_tag

__all__ = ["broadcast", "broadcasts", "tag"]

ACTOR = "cli"
# A number no broadcast can have is a one-line usage error, not a database overflow.
BROADCAST_ID = click.IntRange(1, ROW_ID_MAX)
T = TypeVar("T")


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"clinicbot: {message}", err=True)
    return click.exceptions.Exit(2)


def _with_session(ctx: click.Context, work: Callable[[Services, AsyncSession], Awaitable[T]]) -> T:
    try:
        return in_session(ctx, work)
    except (AudienceError, BroadcastError, TagError) as exc:
        raise _fail(str(exc)) from None


def _parse_at(text: str, services: Services) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--at {text!r} is not an ISO time like 2026-12-24T09:00") from None
    if at.tzinfo is None:  # a wall-clock time at the clinic
        at = at.replace(tzinfo=clinic_zone(services.conversation.answerer.content.clinic))
    if at < utc_now():
        raise _fail(f"--at {text} is in the past")
    return at


@click.command()
@click.option("--text", help="The announcement in English (also the fallback).")
@click.option("--file", "file", type=click.Path(path_type=Path), help="Read the text from FILE.")
@click.option("--text-es", help="The announcement in Spanish.")
@click.option("--audience", required=True, help="all, channel=, lang=, tag=, appointment_within=")
@click.option("--at", "at", help="Send at this ISO time (clinic time if no offset).")
@click.option("--dry-run", is_flag=True, help="Print the preview and counts; change nothing.")
@click.pass_context
def broadcast(
    ctx: click.Context,
    text: str | None,
    file: Path | None,
    text_es: str | None,
    audience: str,
    at: str | None,
    dry_run: bool,
) -> None:
    """Announce something to patients who agreed to announcements."""
    if (text is None) == (file is None):
        raise _fail("give exactly one of --text or --file")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {file}: {exc.__class__.__name__}") from None
    texts = {"en": text or "", **({"es": text_es} if text_es else {})}
    chosen = parse_audience_or_fail(audience)

    async def work(services: Services, session: AsyncSession) -> str:
        send_at = _parse_at(at, services) if at else utc_now()
        content = services.conversation.answerer.content
        shown = await preview(session, content, texts, chosen, utc_now())
        if dry_run:
            return preview_text(content, shown)
        created = await create_broadcast(
            session, texts, chosen, send_at=send_at, actor=ACTOR, now=utc_now()
        )
        return (
            f"broadcast #{created.id}: {created.recipients} recipients, "
            f"sending at {created.send_at:%Y-%m-%d %H:%M} UTC"
        )

    click.echo(_with_session(ctx, work))


def parse_audience_or_fail(spec: str) -> Audience:
    """Parse an audience spec, or exit 2 with its one-line reason."""
    try:
        return parse_audience(spec)
    except AudienceError as exc:
        raise _fail(str(exc)) from None


@click.command()
@click.option("--cancel", type=BROADCAST_ID, metavar="ID", help="Cancel a broadcast.")
@click.option("--report", type=BROADCAST_ID, metavar="ID", help="Show a delivery report.")
@click.pass_context
def broadcasts(ctx: click.Context, cancel: int | None, report: int | None) -> None:
    """List recent and scheduled broadcasts, cancel one, or show its delivery report."""

    async def work(services: Services, session: AsyncSession) -> str:
        if cancel is not None:
            count = await cancel_broadcast(session, cancel, actor=ACTOR, now=utc_now())
            return f"broadcast #{cancel} cancelled: {count} messages will not go out"
        if report is not None:
            found = await delivery_report(session, report)
            return f"broadcast #{report} ({found.status})\n{counts_text(found)}"
        return listing_lines(await recent_broadcasts(session, 20)) or "no broadcasts yet"

    click.echo(_with_session(ctx, work))


@click.group()
def tag() -> None:
    """Tag patients (by address, e.g. tel:+15551234567) to choose an audience."""


@tag.command("add")
@click.argument("urn")
@click.argument("name")
@click.pass_context
def tag_add(ctx: click.Context, urn: str, name: str) -> None:
    """Give the patient with address URN the tag NAME."""

    async def work(services: Services, session: AsyncSession) -> bool:
        return await add_tag(session, urn, name, actor=ACTOR, now=utc_now())

    click.echo("tagged" if _with_session(ctx, work) else "already tagged")


@tag.command("remove")
@click.argument("urn")
@click.argument("name")
@click.pass_context
def tag_remove(ctx: click.Context, urn: str, name: str) -> None:
    """Take the tag NAME off the patient with address URN."""

    async def work(services: Services, session: AsyncSession) -> bool:
        return await remove_tag(session, urn, name, actor=ACTOR, now=utc_now())

    click.echo("removed" if _with_session(ctx, work) else "not tagged")


@tag.command("list")
@click.argument("urn", required=False)
@click.pass_context
def tag_list(ctx: click.Context, urn: str | None) -> None:
    """List tags: `patient <id>: <tag>`, for one address or everyone."""

    async def work(services: Services, session: AsyncSession) -> list[tuple[int, str]]:
        return await list_tags(session, urn)

    for patient_id, name in _with_session(ctx, work):
        click.echo(f"patient {patient_id}: {name}")
