"""/forget removes the patient's words from the staff group: deleted, or else redacted."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Patient, Ticket, TicketPost
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.staff.alerts import StaffAlerts
from handlers.staff.tickets import open_ticket
from tests.conftest import FakeClock
from tests.staff_support import STAFF_CHAT, staff_harness, to_group
from tests.telegram_fake import Harness

WORDS = "my lower back hurts when I sit at work"


async def _ticket_with_words(harness: Harness, db: Database) -> tuple[int, list[int]]:
    await harness.say("/human")
    await harness.say(WORDS)
    assert any(WORDS in post for post in to_group(harness))
    async with db.session() as session:
        ticket_id = (await session.scalars(select(Ticket.id))).one()
        posts = await session.scalars(select(TicketPost.message_id).order_by(TicketPost.id))
        return ticket_id, [int(m) for m in posts]


async def _forget(harness: Harness) -> None:
    [confirm] = await harness.send("command_start", text="/forget")
    yes = next(d for _, d in confirm.buttons if d.startswith("forget:yes"))
    calls = await harness.press(yes)
    assert any("Your data has been erased" in c.text for c in calls)


async def test_forget_deletes_the_ticket_posts(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        _, posts = await _ticket_with_words(harness, db)
        assert len(posts) == 2  # the ticket's header and the patient's words
        await _forget(harness)
        deleted = harness.api.sent("deleteMessage")
        assert [(int(c.params["chat_id"]), int(c.params["message_id"])) for c in deleted] == [
            (STAFF_CHAT, message_id) for message_id in posts
        ]
    async with db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []
        assert (await session.scalars(select(TicketPost))).all() == []


async def test_posts_too_old_to_delete_are_redacted(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        ticket_id, posts = await _ticket_with_words(harness, db)
        for _ in posts:  # older than 48 hours: Telegram refuses to delete them
            harness.api.fail("deleteMessage", 400, "Bad Request: message can't be deleted")
        await _forget(harness)
        edits = [
            c
            for c in harness.api.sent("editMessageText")
            if int(c.params["chat_id"]) == STAFF_CHAT
        ]
        assert [(int(c.params["message_id"]), c.text) for c in edits] == [
            (message_id, f"#{ticket_id}: removed at the patient's request.")
            for message_id in posts
        ]


class _RefusingPoster:
    def __init__(self) -> None:
        self.posted: list[str] = []
        self.up = False

    async def post(self, text: str, *, ticket_id: int | None = None) -> bool:
        if self.up:
            self.posted.append(text)
        return self.up


async def test_waiting_alerts_of_an_erased_patient_are_never_posted(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, "telegram:77", now=clock())
        ticket, _ = await open_ticket(
            session, patient.id, reason="human", channel="telegram", now=clock()
        )
        ticket_id = ticket.id
    poster = _RefusingPoster()
    alerts = StaffAlerts(clock=clock)
    alerts.attach(db, answerer.content, poster)
    await alerts.ticket_message(ticket_id=ticket_id, text=WORDS)  # the group is unreachable
    assert alerts.drop_unposted({ticket_id}) == 1
    poster.up = True
    assert await alerts.retry_unposted() == 0 and poster.posted == []
