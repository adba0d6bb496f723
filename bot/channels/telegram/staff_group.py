"""The staff group: ticket posts and alerts, staff replies reaching patients, staff commands.

Commands (/close, /stats, /tag_add ...) are the declared ones (handlers.staff.commands).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram import ReplyParameters, Update, User
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.channels.telegram.deps import Context, Deps, deps
from bot.channels.telegram.edges import first_time
from bot.channels.telegram.render import MAX_CHARS
from bot.channels.telegram.sender import TelegramSender
from bot.db.models import Ticket, TicketPost
from bot.db.session import Database
from bot.settings import Settings
from content.store import ContentStore
from handlers.delivery.sending import Checked
from handlers.messages import OutboundMessage
from handlers.staff.alerts import StaffAlerts
from handlers.staff.commands import (
    COMMANDS,
    StaffEnv,
    confirm_rules_in,
    parse_words,
    run_staff_command,
)
from handlers.staff.roles import staff_role
from handlers.staff.ticket_answers import CLOSED, answer_ticket
from handlers.wording import fill

if TYPE_CHECKING:
    from bot.channels.telegram.app import TelegramApp
    from bot.channels.telegram.web import TelegramRuntime

__all__ = [
    "ReplySender",
    "StaffGroup",
    "TelegramStaffPoster",
    "confirm_rules",
    "connect_staff_group",
    "erase_ticket_posts",
    "run_for_staff",
    "staff_env",
    "start_staff_group",
]

log = logging.getLogger(__name__)
_KEY = "clinicbot.staff_group"


async def erase_ticket_posts(
    bot: Any,
    content: ContentStore,
    posts: Sequence[tuple[int, int, int]],
    *,
    alerts: object = None,
) -> tuple[int, int, int]:
    """Remove an erased patient's words from the staff group; return (deleted, redacted, left).

    `posts` are (ticket id, chat id, message id), read before the erasure. Telegram lets a bot
    delete its own messages for 48 hours; an older post is edited to a one-line note instead
    (a bot may edit its own messages at any time). Alerts of those tickets still waiting to be
    posted are dropped.
    """
    if isinstance(alerts, StaffAlerts):
        alerts.drop_unposted({ticket_id for ticket_id, _, _ in posts})
    deleted = redacted = left = 0
    for ticket_id, chat_id, message_id in posts:
        try:
            await bot.delete_message(chat_id, message_id)
            deleted += 1
            continue
        except BadRequest as error:
            if "not found" in error.message.lower():  # staff deleted it already
                deleted += 1
                continue
        except TelegramError:
            pass
        note = fill(content.message("staff_ticket_erased", "en").text, {"ticket": str(ticket_id)})
        try:
            await bot.edit_message_text(note, chat_id=chat_id, message_id=message_id)
            redacted += 1
        except TelegramError as error:
            left += 1
            log.warning("erasure: a ticket post stays: %s", type(error).__name__)
    log.info("erasure: ticket posts deleted=%s redacted=%s left=%s", deleted, redacted, left)
    return deleted, redacted, left


class ReplySender(Protocol):
    """A sender that can answer a patient outside the automated path (the SMS sender)."""

    async def send(
        self, urn: str, message: OutboundMessage, *, reply: bool = False
    ) -> SendOutcome: ...


class _AsReply:
    """Send staff answers by SMS as replies: the patient wrote to us, so no quiet hours."""

    def __init__(self, sender: ReplySender) -> None:
        self._sender = sender

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        return await self._sender.send(urn, message, reply=True)


class TelegramStaffPoster:
    """Post plain text to the staff group and remember which ticket each post belongs to."""

    def __init__(self, bot: Any, db: Database, chat_id: int, ready: asyncio.Event | None) -> None:
        self._bot, self._db, self._chat_id, self._ready = bot, db, chat_id, ready

    async def post(self, text: str, *, ticket_id: int | None = None) -> bool:
        """Post `text`; False (logged by the caller) if Telegram is not connected or refuses."""
        if self._ready is not None and not self._ready.is_set():
            return False
        try:
            sent = await self._bot.send_message(self._chat_id, text[:MAX_CHARS])
        except TelegramError as error:
            log.warning("staff group: post failed: %s", type(error).__name__)
            return False
        if ticket_id is not None:
            async with self._db.session() as session, session.begin():
                session.add(
                    TicketPost(
                        ticket_id=ticket_id, chat_id=self._chat_id, message_id=sent.message_id
                    )
                )
        return True


@dataclass
class StaffGroup:
    """The staff group's chat, and how staff answers reach patients on each channel."""

    chat_id: int
    poster: TelegramStaffPoster
    senders: dict[str, ChannelSender] = field(default_factory=dict)  # address scheme -> sender
    confirm_rules: Sequence[str] = ("before_48h",)

    def install(self, bot_data: dict[str, Any]) -> None:
        """Store the group where its handlers find it."""
        bot_data[_KEY] = self


def staff_group(context: Context) -> StaffGroup | None:
    """Return the configured staff group, if any."""
    found: StaffGroup | None = context.bot_data.get(_KEY)
    return found


def staff_env(d: Deps, group: StaffGroup | None) -> StaffEnv:
    """Return what the staff commands read, for this bot."""
    rules = tuple(group.confirm_rules) if group else ("before_48h",)
    return StaffEnv(d.content, ZoneInfo(d.clinic_zone), rules)


async def run_for_staff(
    d: Deps, group: StaffGroup | None, user: User, name: str, line: str
) -> str:
    """Run a declared staff command for a Telegram user; send its notices after the commit."""
    async with d.db.session() as session, session.begin():
        result = await run_staff_command(
            session,
            name,
            parse_words(name, line),
            actor=f"staff:{user.id}",
            actor_name=user.first_name or str(user.id),
            env=staff_env(d, group),
            now=d.clock(),
        )  # the role is read again inside: a removed member loses access at once
    for notice in result.notices:
        sender = group.senders.get(notice.urn.partition(":")[0]) if group else None
        if sender is not None:
            await sender.send(notice.urn, notice.message)
    return result.text


def _note(d: Deps, key: str, **values: str) -> str:
    return fill(d.content.message(key, "en").text, values)


def _command(text: str) -> tuple[str, str]:
    """Split "/close@clinic_bot 12" into ("close", "12"); ("", "") for plain text."""
    if not text.startswith("/"):
        return "", ""
    head, _, rest = text.partition(" ")
    return head[1:].split("@")[0].lower(), rest.strip()


async def _ticket_of_post(d: Deps, chat_id: int, message_id: int) -> Ticket | None:
    async with d.db.session() as session:
        ticket_id = await session.scalar(
            select(TicketPost.ticket_id).where(
                TicketPost.chat_id == chat_id, TicketPost.message_id == message_id
            )
        )
        return await session.get(Ticket, ticket_id) if ticket_id is not None else None


async def _answer(
    d: Deps, group: StaffGroup, ticket: Ticket, text: str, staff_id: int
) -> str | None:
    """Send a staff answer to the patient's own channel; return a note for staff if it failed."""
    status = await answer_ticket(
        d.db, group.senders, ticket.id, text, actor=f"staff:{staff_id}", now=d.clock()
    )
    if status == SendStatus.SENT:
        return None
    if status == CLOSED:
        return _note(d, "staff_ticket_unknown", ticket=str(ticket.id))
    return _note(d, "staff_ticket_reply_failed", ticket=str(ticket.id), reason=status)


async def on_staff_chat(update: Update, context: Context) -> None:
    """Handle every update from the staff group before anything else: only staff are obeyed."""
    group, chat = staff_group(context), update.effective_chat
    if group is None or chat is None or chat.id != group.chat_id:
        return
    d = deps(context)
    message, user = update.message, update.effective_user
    if message is None or user is None or not await first_time(d, update.update_id):
        raise ApplicationHandlerStop  # edits, joins, duplicates: nothing to do
    async with d.db.session() as session:
        role = await staff_role(session, user.id)
    if role is None:
        raise ApplicationHandlerStop  # not staff: the bot ignores them, here and everywhere
    command, argument = _command(message.text or "")
    replied_to = message.reply_to_message
    ticket = await _ticket_of_post(d, chat.id, replied_to.message_id) if replied_to else None
    note: str | None = None
    if command == "close" and not argument.isdigit():
        # "/close" in reply to a ticket's post closes that ticket.
        argument = str(ticket.id) if ticket is not None else ""
    if command in COMMANDS:
        note = await run_for_staff(d, group, user, command, argument)
    elif ticket is not None and not command and message.text:
        note = await _answer(d, group, ticket, message.text, user.id)
    if note is not None:
        await context.bot.send_message(
            chat.id, note, reply_parameters=ReplyParameters(message.message_id)
        )
    raise ApplicationHandlerStop


def connect_staff_group(
    application: TelegramApp,
    d: Deps,
    *,
    chat_id: int,
    alerts: object,
    ready: asyncio.Event | None,
    sms: ReplySender | None = None,
    confirm_rules: Sequence[str] = ("before_48h",),
) -> StaffGroup:
    """Install the staff group's handler, its patient senders, and the alerts' poster."""
    poster = TelegramStaffPoster(application.bot, d.db, chat_id, ready)
    # Staff answers are direct sends: the core checks and records them (handlers.delivery.sending).
    bodies = d.conversation.store_bodies
    senders: dict[str, ChannelSender] = {
        "telegram": Checked(
            TelegramSender(application.bot), d.db, clock=d.clock, store_bodies=bodies
        )
    }
    if sms is not None:
        senders["tel"] = Checked(_AsReply(sms), d.db, clock=d.clock, store_bodies=bodies)
    group = StaffGroup(chat_id, poster, senders, tuple(confirm_rules))
    group.install(application.bot_data)
    # Before the gate (group -1), which keeps groups quiet; this handler dedupes itself.
    application.add_handler(TypeHandler(Update, on_staff_chat), group=-2)
    if isinstance(alerts, StaffAlerts):
        alerts.attach(d.db, d.content, poster)
    return group


def confirm_rules(settings: Settings) -> tuple[str, ...]:
    """Return the ids of the nudge rules that ask the patient to confirm (for /stats)."""
    return confirm_rules_in(settings.content_dir / "nudges.yaml")


def start_staff_group(runtime: TelegramRuntime, settings: Settings, state: Any) -> None:
    """Connect the staff group when STAFF_CHAT_ID is set (SMS answers use the SMS channel)."""
    if settings.staff_chat_id is None:
        return
    sms = getattr(state, "sms", None)
    connect_staff_group(
        runtime.application,
        runtime.deps,
        chat_id=settings.staff_chat_id,
        alerts=runtime.deps.conversation.alerts,
        ready=runtime.ready,
        sms=sms.sender if sms is not None else None,
        confirm_rules=confirm_rules(settings),
    )
