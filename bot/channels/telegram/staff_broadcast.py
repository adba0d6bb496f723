"""The /broadcast wizard and /broadcasts list for staff, in a private chat with the bot.

Drafts live in memory, keyed by the staff member: a restart only loses an unfinished draft,
whose buttons then answer "expired". The role is checked again on every step.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Message, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.channels.telegram import patient
from bot.channels.telegram.deps import Context, Deps, deps
from bot.channels.telegram.replies import send_all
from bot.channels.telegram.staff_group import staff_env
from handlers.messages import OutboundMessage, QuickReply, ReplyKind
from handlers.staff.audience import Audience, AudienceError, parse_audience
from handlers.staff.broadcast_reports import preview_text, staff_message
from handlers.staff.broadcasts import (
    BroadcastError,
    check_texts,
    create_broadcast,
    preview,
)
from handlers.staff.commands import StaffResult, run_staff_command
from handlers.staff.roles import staff_role

__all__ = ["register"]

PREFIX = "bc:"
_DATA = re.compile(r"^bc:(?:([0-9a-f]{6}):([a-z0-9_]{1,12})|x:(\d{1,9}))$")
_KEY = "staff_broadcast_drafts"
_TEXT_STEPS = {"en", "es", "tag", "custom", "time"}


@dataclass
class _Draft:
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))
    step: str = "en"
    texts: dict[str, str] = field(default_factory=dict)
    audience: Audience | None = None
    send_at: datetime | None = None  # None: now
    recipients: tuple[int, int] = (0, 0)  # Telegram, SMS


class _Awaiting(filters.MessageFilter):
    """Match messages from a staff member whose draft waits for typed text."""

    def __init__(self, drafts: dict[int, _Draft], steps: set[str] | None = None) -> None:
        super().__init__(name="staff_broadcast_awaiting")
        self._drafts, self._steps = drafts, steps

    def filter(self, message: Message) -> bool:
        user = message.from_user
        draft = self._drafts.get(user.id) if user else None
        return draft is not None and (self._steps is None or draft.step in self._steps)


def _drafts(context: Context) -> dict[int, _Draft]:
    found: dict[int, _Draft] = context.bot_data[_KEY]
    return found


async def _is_staff(d: Deps, update: Update) -> bool:
    user = update.effective_user
    if user is None:
        return False
    async with d.db.session() as session:
        return await staff_role(session, user.id) is not None


def _ids(update: Update) -> tuple[int, int]:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return user.id, chat.id


async def _say(
    context: Context, chat_id: int, text: str, buttons: tuple[QuickReply, ...] = ()
) -> None:
    message = OutboundMessage(text, text, ReplyKind.SYSTEM, "en", options=buttons)
    await send_all(context.bot, chat_id, [message])


def _button(d: Deps, draft: _Draft, key: str, action: str) -> QuickReply:
    return QuickReply(staff_message(d.content, key), f"{PREFIX}{draft.nonce}:{action}")


def _audiences(d: Deps) -> list[tuple[str, str]]:
    lines = staff_message(d.content, "staff_bc_audiences").splitlines()
    pairs = (line.partition(" - ") for line in lines)
    return [(spec.strip(), label.strip()) for spec, _, label in pairs]


async def broadcast_command(update: Update, context: Context) -> None:
    """Start a new announcement (staff only; to others the command does not exist)."""
    d = deps(context)
    if not await _is_staff(d, update):
        await patient.message(update, context)
        return
    user_id, chat_id = _ids(update)
    _drafts(context)[user_id] = _Draft()
    await _say(context, chat_id, staff_message(d.content, "staff_bc_ask_en"))


async def cancel_command(update: Update, context: Context) -> None:
    """Discard the draft being written."""
    user_id, chat_id = _ids(update)
    _drafts(context).pop(user_id, None)
    await _say(context, chat_id, staff_message(deps(context).content, "staff_bc_discarded"))


async def _ask_audience(context: Context, d: Deps, draft: _Draft, chat_id: int) -> None:
    draft.step = "audience"
    buttons = tuple(
        QuickReply(label, f"{PREFIX}{draft.nonce}:a{i}")
        for i, (_, label) in enumerate(_audiences(d))
    )
    await _say(context, chat_id, staff_message(d.content, "staff_bc_ask_audience"), buttons)


async def _show_preview(context: Context, d: Deps, draft: _Draft, chat_id: int) -> None:
    assert draft.audience is not None
    async with d.db.session() as session:
        shown = await preview(session, d.content, draft.texts, draft.audience, d.clock())
    counts = shown.selection.by_channel()
    draft.step, draft.recipients = "preview", (counts["telegram"], counts["tel"])
    buttons = tuple(
        _button(d, draft, f"staff_bc_{key}", key) for key in ("send_now", "schedule", "discard")
    )
    await _say(context, chat_id, preview_text(d.content, shown), buttons)


async def _ask_confirm(context: Context, d: Deps, draft: _Draft, chat_id: int) -> None:
    draft.step = "confirm"
    when = staff_message(d.content, "staff_bc_now")
    if draft.send_at is not None:
        when = f"{draft.send_at.astimezone(ZoneInfo(d.clinic_zone)):%Y-%m-%d %H:%M %Z}"
    text = staff_message(
        d.content,
        "staff_bc_confirm_text",
        count=sum(draft.recipients),
        telegram=draft.recipients[0],
        sms=draft.recipients[1],
        when=when,
    )
    buttons = (
        _button(d, draft, "staff_bc_confirm", "confirm"),
        _button(d, draft, "staff_bc_discard", "discard"),
    )
    await _say(context, chat_id, text, buttons)


def _typed_time(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise BroadcastError("that is not a time like 2026-12-24 09:00") from None
    at = at if at.tzinfo is not None else at.replace(tzinfo=zone)
    if at < now:
        raise BroadcastError("that time is in the past")
    return at


async def draft_text(update: Update, context: Context) -> None:
    """Take the text a draft waits for: a language's text, tags, an audience or a time."""
    d = deps(context)
    user_id, chat_id = _ids(update)
    draft = _drafts(context).get(user_id)
    message = update.effective_message
    if draft is None or message is None or not await _is_staff(d, update):
        _drafts(context).pop(user_id, None)
        await patient.message(update, context)
        return
    typed = message.text or ""
    try:
        if draft.step in ("en", "es"):
            if not typed.strip():
                raise BroadcastError("the text is empty")
            draft.texts[draft.step] = check_texts({"en": "-", draft.step: typed})[draft.step]
            if draft.step == "en":
                draft.step = "es"
                button = _button(d, draft, "staff_bc_english_only", "enonly")
                ask = staff_message(d.content, "staff_bc_ask_es")
                await _say(context, chat_id, ask, (button,))
                return
            await _ask_audience(context, d, draft, chat_id)
        elif draft.step in ("tag", "custom"):
            draft.audience = parse_audience(f"tag={typed}" if draft.step == "tag" else typed)
            await _show_preview(context, d, draft, chat_id)
        else:
            draft.send_at = _typed_time(typed, ZoneInfo(d.clinic_zone), d.clock())
            await _ask_confirm(context, d, draft, chat_id)
    except (AudienceError, BroadcastError) as error:
        await _say(context, chat_id, staff_message(d.content, "staff_bc_error", error=str(error)))


async def _create(context: Context, d: Deps, draft: _Draft, user_id: int, chat_id: int) -> str:
    assert draft.audience is not None
    now = d.clock()
    async with d.db.session() as session, session.begin():
        created = await create_broadcast(
            session,
            draft.texts,
            draft.audience,
            send_at=draft.send_at or now,
            actor=f"staff:{user_id}",
            now=now,
            report_chat_id=chat_id,
        )
        when = f"{created.send_at.astimezone(ZoneInfo(d.clinic_zone)):%Y-%m-%d %H:%M %Z}"
        return staff_message(
            d.content, "staff_bc_created", id=created.id, when=when, count=created.recipients
        )


async def _draft_button(
    context: Context, d: Deps, draft: _Draft, action: str, user_id: int, chat_id: int
) -> bool:
    """Act on a draft's button; False when the button does not belong to this step."""
    zone, now = ZoneInfo(d.clinic_zone), d.clock()
    if draft.step == "es" and action == "enonly":
        await _ask_audience(context, d, draft, chat_id)
    elif draft.step == "audience" and action[:1] == "a" and action[1:].isdigit():
        choices = _audiences(d)
        if int(action[1:]) >= len(choices):
            return False
        spec = choices[int(action[1:])][0]
        if spec in ("tag", "custom"):
            draft.step = spec
            await _say(context, chat_id, staff_message(d.content, f"staff_bc_ask_{spec}"))
        else:
            draft.audience = parse_audience(spec)
            await _show_preview(context, d, draft, chat_id)
    elif draft.step == "preview" and action == "send_now":
        draft.send_at = None
        await _ask_confirm(context, d, draft, chat_id)
    elif draft.step == "preview" and action == "schedule":
        draft.step = "time"
        buttons = (
            _button(d, draft, "staff_bc_in_hour", "in1h"),
            _button(d, draft, "staff_bc_tomorrow", "tomorrow"),
        )
        text = staff_message(d.content, "staff_bc_ask_time", zone=d.clinic_zone)
        await _say(context, chat_id, text, buttons)
    elif draft.step == "time" and action in ("in1h", "tomorrow"):
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        draft.send_at = (
            now + timedelta(hours=1)
            if action == "in1h"
            else datetime.combine(tomorrow, time(9), tzinfo=zone)
        )
        await _ask_confirm(context, d, draft, chat_id)
    elif draft.step == "confirm" and action == "confirm":
        _drafts(context).pop(user_id, None)
        await _say(context, chat_id, await _create(context, d, draft, user_id, chat_id))
    elif action == "discard":
        _drafts(context).pop(user_id, None)
        await _say(context, chat_id, staff_message(d.content, "staff_bc_discarded"))
    else:
        return False
    return True


async def button(update: Update, context: Context) -> None:
    """Answer a wizard or list button: stale, forged or foreign data gets a polite note."""
    d, query = deps(context), update.callback_query
    assert query is not None
    match = _DATA.match(query.data or "")
    if match is None or not await _is_staff(d, update):
        await query.answer()
        return
    user_id, chat_id = _ids(update)
    stale = staff_message(d.content, "staff_bc_stale")
    try:
        if match.group(3) is not None:
            await query.answer()
            await _cancel(context, d, int(match.group(3)), user_id, chat_id)
            return
        draft = _drafts(context).get(user_id)
        if draft is None or draft.nonce != match.group(1):
            await query.answer(stale)
            return
        await query.answer()
        if not await _draft_button(context, d, draft, match.group(2), user_id, chat_id):
            await _say(context, chat_id, stale)
    except (AudienceError, BroadcastError) as error:
        await _say(context, chat_id, staff_message(d.content, "staff_bc_error", error=str(error)))


async def _run(d: Deps, user_id: int, name: str, args: dict[str, str]) -> StaffResult:
    async with d.db.session() as session, session.begin():
        return await run_staff_command(
            session, name, args, actor=f"staff:{user_id}", env=staff_env(d, None), now=d.clock()
        )


async def _cancel(
    context: Context, d: Deps, broadcast_id: int, user_id: int, chat_id: int
) -> None:
    result = await _run(d, user_id, "broadcast_cancel", {"id": str(broadcast_id)})
    text = result.text
    if not result.ok:
        text = staff_message(d.content, "staff_bc_error", error=result.text)
    await _say(context, chat_id, text)


async def broadcasts_command(update: Update, context: Context) -> None:
    """List recent and scheduled broadcasts, with Cancel for those not finished."""
    d = deps(context)
    if not await _is_staff(d, update):
        await patient.message(update, context)
        return
    user_id, chat_id = _ids(update)
    listed = await _run(d, user_id, "broadcasts", {"limit": "10"})
    if not listed.data.get("lines"):
        await _say(context, chat_id, staff_message(d.content, "staff_bc_none"))
        return
    buttons = tuple(
        QuickReply(staff_message(d.content, "staff_bc_cancel", id=ident), f"{PREFIX}x:{ident}")
        for ident in listed.data["cancellable"]
    )
    text = staff_message(d.content, "staff_bc_list", lines=listed.data["lines"])
    await _say(context, chat_id, text, buttons)


def register(application: Any) -> None:
    """Add the staff broadcast handlers; call before the patient handlers so they match first."""
    drafts: dict[int, _Draft] = application.bot_data.setdefault(_KEY, {})
    private, awaiting = filters.ChatType.PRIVATE, _Awaiting(drafts, _TEXT_STEPS)
    application.add_handler(CommandHandler("broadcast", broadcast_command, filters=private))
    application.add_handler(CommandHandler("broadcasts", broadcasts_command, filters=private))
    drafting = private & _Awaiting(drafts)
    application.add_handler(CommandHandler("cancel", cancel_command, filters=drafting))
    application.add_handler(
        MessageHandler(private & awaiting & filters.TEXT & ~filters.COMMAND, draft_text)
    )
    application.add_handler(CallbackQueryHandler(button, pattern=f"^{PREFIX}"))
