"""The staff commands themselves, each declared once (see handlers.staff.commands)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.db.models import AuditEntry, Patient, StaffRole
from handlers.ids import ROW_ID_MAX, TELEGRAM_ID_MAX, read_id
from handlers.staff.audience import AudienceError, parse_audience
from handlers.staff.broadcast_reports import (
    counts_text,
    listing_lines,
    preview_text,
    staff_message,
)
from handlers.staff.broadcasts import (
    BroadcastError,
    cancel_broadcast,
    create_broadcast,
    delivery_report,
    preview,
    recent_broadcasts,
)
from handlers.staff.commands import (
    Arg,
    PatientNotice,
    StaffCall,
    StaffError,
    StaffResult,
    command,
)
from handlers.staff.roles import add_staff, list_staff, remove_staff
from handlers.staff.stats import collect_stats, format_stats
from handlers.staff.tags import TagError, add_tag, list_tags, remove_tag
from handlers.staff.tickets import close_ticket, reply_address
from handlers.wording import fill, say

__all__ = ["USER_ERRORS"]

# Refusals the functions below raise for staff to read: one line, exit code 2.
USER_ERRORS = (AudienceError, BroadcastError, TagError)
STAFF, ADMIN = StaffRole.STAFF, StaffRole.ADMIN


def _id(name: str, maximum: int = ROW_ID_MAX) -> Arg:
    def read(text: str) -> int:
        found = read_id(text, maximum)
        if found is None:
            raise ValueError(text)
        return found

    return Arg(name, read)


def _days(text: str) -> int:
    days = int(text)
    if not 1 <= days <= 3650:
        raise ValueError(text)
    return days


def _role(text: str) -> StaffRole:
    return StaffRole(text.lower())


def _flag(text: str) -> bool:
    return text.lower() in {"1", "true", "yes", "on"}


def _note(call: StaffCall, key: str, **values: str) -> str:
    return fill(call.env.content.message(key, "en").text, values)


@command("stats", STAFF, Arg("days", _days, required=False, default=30))
async def stats(call: StaffCall) -> StaffResult:
    """Show patients by channel, opt-outs, messages sent, confirmations, tickets, pain scores."""
    found = await collect_stats(
        call.session, now=call.now, days=call.args["days"], confirm_rules=call.env.confirm_rules
    )
    return StaffResult(format_stats(call.env.content, found))


@command("close", STAFF, Arg("ticket", required=False))
async def close(call: StaffCall) -> StaffResult:
    """Close a hand-off ticket by number, and tell the patient (after the commit)."""
    typed = call.args["ticket"]
    if typed is None:
        return StaffResult(call.env.content.message("staff_close_usage", "en").text, 2)
    ticket_id = read_id(typed)
    ticket = None
    if ticket_id is not None:
        ticket = await close_ticket(call.session, ticket_id, actor=call.actor, now=call.now)
    if ticket is None:
        return StaffResult(_note(call, "staff_ticket_unknown", ticket=typed[:24]), 1)
    notices: tuple[PatientNotice, ...] = ()
    urn = await reply_address(call.session, ticket)
    patient = await call.session.get(Patient, ticket.patient_id)
    if urn is not None:
        lang = (patient.language if patient else None) or "en"
        notices = (PatientNotice(urn, say(call.env.content, "ticket_closed", lang)),)
    text = _note(call, "staff_ticket_closed", ticket=str(ticket.id), actor=call.actor_name)
    return StaffResult(text, notices=notices, data={"ticket": ticket.id})


@command(
    "staff_add",
    ADMIN,
    _id("telegram_user_id", TELEGRAM_ID_MAX),
    Arg("role", _role, required=False, default=StaffRole.STAFF),
    Arg("name", required=False, rest=True),
)
async def staff_add(call: StaffCall) -> StaffResult:
    """Make a Telegram user staff (or change their role)."""
    user_id, role = call.args["telegram_user_id"], call.args["role"]
    await add_staff(
        call.session, user_id, role, actor=call.actor, now=call.now, name=call.args["name"]
    )
    return StaffResult(f"staff {user_id}: {role}")


@command("staff_remove", ADMIN, _id("telegram_user_id", TELEGRAM_ID_MAX))
async def staff_remove(call: StaffCall) -> StaffResult:
    """Remove a staff member (kept in the audit trail)."""
    user_id = call.args["telegram_user_id"]
    if not await remove_staff(call.session, user_id, actor=call.actor, now=call.now):
        raise StaffError(f"{user_id} is not staff", exit_code=1)
    return StaffResult(f"staff {user_id}: removed")


@command("staff_list", ADMIN)
async def staff_list(call: StaffCall) -> StaffResult:
    """List active staff, admins first."""
    members = await list_staff(call.session)
    lines = [f"{m.telegram_user_id}\t{m.role}\t{m.name or ''}".rstrip() for m in members]
    text = (
        "\n".join(lines) or "no staff yet: `clinicbot staff add <telegram user id> --role admin`"
    )
    return StaffResult(text, data={"staff": [m.telegram_user_id for m in members]})


def _limit(text: str) -> int:
    limit = int(text)
    if not 1 <= limit <= 10_000:
        raise ValueError(text)
    return limit


@command("audit", ADMIN, Arg("limit", _limit, required=False, default=50))
async def audit_log(call: StaffCall) -> StaffResult:
    """List the newest audit entries: when, who, what, to whom."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(call.args["limit"])
    lines = []
    for entry in await call.session.scalars(query):
        when = entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        fields = (when, entry.actor, entry.action, entry.target or "-", entry.detail or "")
        lines.append("\t".join(fields).rstrip())
    return StaffResult("\n".join(lines))


@command("tag_add", STAFF, Arg("urn"), Arg("name"))
async def tag_add(call: StaffCall) -> StaffResult:
    """Give the patient with this address (e.g. tel:+15551234567) a tag."""
    added = await add_tag(
        call.session, call.args["urn"], call.args["name"], actor=call.actor, now=call.now
    )
    return StaffResult("tagged" if added else "already tagged")


@command("tag_remove", STAFF, Arg("urn"), Arg("name"))
async def tag_remove(call: StaffCall) -> StaffResult:
    """Take a tag off the patient with this address."""
    removed = await remove_tag(
        call.session, call.args["urn"], call.args["name"], actor=call.actor, now=call.now
    )
    return StaffResult("removed" if removed else "not tagged")


@command("tag_list", STAFF, Arg("urn", required=False))
async def tag_list(call: StaffCall) -> StaffResult:
    """List tags, for one address or everyone."""
    found = await list_tags(call.session, call.args["urn"])
    return StaffResult(
        "\n".join(f"patient {patient_id}: {name}" for patient_id, name in found),
        data={"tags": found},
    )


@command("broadcasts", STAFF, Arg("limit", _limit, required=False, default=20))
async def broadcasts(call: StaffCall) -> StaffResult:
    """List recent and scheduled broadcasts."""
    found = await recent_broadcasts(call.session, call.args["limit"])
    lines = listing_lines(found)
    cancellable = [b.id for b in found if b.status in ("scheduled", "running")]
    return StaffResult(
        lines or "no broadcasts yet", data={"lines": lines, "cancellable": cancellable}
    )


@command("broadcast_cancel", STAFF, _id("id"))
async def broadcast_cancel(call: StaffCall) -> StaffResult:
    """Cancel a scheduled or running broadcast."""
    ident = call.args["id"]
    count = await cancel_broadcast(call.session, ident, actor=call.actor, now=call.now)
    text = staff_message(call.env.content, "staff_bc_cancelled", id=ident, count=count)
    return StaffResult(text, data={"id": ident, "cancelled": count})


@command("broadcast_report", STAFF, _id("id"))
async def broadcast_report(call: StaffCall) -> StaffResult:
    """Show a broadcast's delivery report."""
    ident = call.args["id"]
    found = await delivery_report(call.session, ident)
    return StaffResult(f"broadcast #{ident} ({found.status})\n{counts_text(found)}")


def _at(call: StaffCall) -> datetime:
    text: str | None = call.args["at"]
    if text is None:
        return call.now
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise StaffError(f"--at {text!r} is not an ISO time like 2026-12-24T09:00") from None
    if at.tzinfo is None:  # a wall-clock time at the clinic
        at = at.replace(tzinfo=call.env.clinic_zone)
    if at < call.now:
        raise StaffError(f"--at {text} is in the past")
    return at


@command(
    "broadcast",
    STAFF,
    Arg("audience"),
    Arg("at", required=False),
    Arg("dry_run", _flag, required=False, default=False),
    Arg("text_es", required=False),
    Arg("text", rest=True),
)
async def broadcast(call: StaffCall) -> StaffResult:
    """Announce something to patients who agreed to announcements (or preview it)."""
    texts = {"en": call.args["text"], **({"es": es} if (es := call.args["text_es"]) else {})}
    chosen = parse_audience(call.args["audience"])
    send_at = _at(call)
    content = call.env.content
    if call.args["dry_run"]:
        shown = await preview(call.session, content, texts, chosen, call.now)
        return StaffResult(preview_text(content, shown))
    created = await create_broadcast(
        call.session, texts, chosen, send_at=send_at, actor=call.actor, now=call.now
    )
    return StaffResult(
        f"broadcast #{created.id}: {created.recipients} recipients, "
        f"sending at {created.send_at:%Y-%m-%d %H:%M} UTC",
        data={"id": created.id, "recipients": created.recipients},
    )
