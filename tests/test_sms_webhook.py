"""SMS webhooks: signatures, keywords, consent, appointments, statuses, opted-out silence."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, select
from starlette.applications import Starlette

from bot.app import Services
from bot.db.models import (
    Address,
    Appointment,
    AuditEntry,
    Consent,
    ConsentCategory,
    ConsentEvent,
    MessageLog,
    Patient,
    ReminderPreference,
    SafetyEvent,
)
from bot.web import create_app
from tests.conftest import FakeClock
from tests.sms_support import (
    PATIENT,
    PUBLIC_URL,
    payload,
    post_signed,
    running_sms_app,
    sign,
    sms_settings,
)

URN = f"tel:{PATIENT}"


@pytest.fixture
async def app(database_url: str, clock: FakeClock) -> AsyncIterator[tuple[Starlette, Services]]:
    async with running_sms_app(database_url, clock) as app:
        yield app


@pytest.fixture
async def client(app: tuple[Starlette, Services]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8080") as c:
        yield c


_sid = iter(range(10**6))


async def text(client: httpx.AsyncClient, body: str) -> list[str]:
    """Send one signed inbound SMS and return the reply texts from the TwiML."""
    sid = f"SM{next(_sid):032x}"
    params = payload("inbound", Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    found = re.findall(r"<Message[^>]*>(.*?)</Message>", response.text, re.DOTALL)
    return [html.unescape(reply) for reply in found]


async def test_a_valid_signature_is_answered_with_twiml(client: httpx.AsyncClient) -> None:
    response = await post_signed(client, "/sms/inbound", payload("inbound"))
    assert response.status_code == 200
    assert '<Message action="https://bot.clinic.example/sms/status"' in response.text


@pytest.mark.parametrize(
    "tamper",
    ["body", "unsigned", "wrong_url", "wrong_token"],
)
async def test_bad_signatures_are_refused_before_anything_is_stored(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], tamper: str
) -> None:
    params = payload("inbound")
    if tamper == "body":
        signed = params
        params = payload("inbound", Body="STOP")
        response = await post_signed(client, "/sms/inbound", params, signed_params=signed)
    elif tamper == "unsigned":
        response = await post_signed(client, "/sms/inbound", params, signature="")
    elif tamper == "wrong_url":
        url = "http://10.0.0.5:8080/sms/inbound"  # what the app sees behind the proxy
        response = await post_signed(client, "/sms/inbound", params, signed_url=url)
    else:
        bad = sign(PUBLIC_URL + "/sms/inbound", params, token="someone-else")
        response = await post_signed(client, "/sms/inbound", params, signature=bad)
    assert response.status_code == 403
    async with app[1].db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []


async def test_repeated_form_keys_are_signed_and_checked_whole(client: httpx.AsyncClient) -> None:
    params = [*payload("inbound"), ("MediaUrl0", "a"), ("MediaUrl0", "b")]
    assert (await post_signed(client, "/sms/inbound", params)).status_code == 200
    dropped = params[:-1]
    response = await post_signed(client, "/sms/inbound", params, signed_params=dropped)
    assert response.status_code == 403


async def test_oversized_bodies_are_refused(client: httpx.AsyncClient) -> None:
    params = payload("inbound", Body="x" * 70_000)
    assert (await post_signed(client, "/sms/inbound", params)).status_code == 413


async def test_a_malformed_sender_gets_a_one_line_400(client: httpx.AsyncClient) -> None:
    response = await post_signed(client, "/sms/inbound", payload("inbound", From="12345"))
    assert response.status_code == 400
    assert response.text.startswith("From: ") and "\n" not in response.text


async def test_first_contact_is_welcomed_and_asked_for_consent(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    [welcome] = await text(client, "hello")
    assert "Reply YES to get appointment reminders" in welcome
    assert "Reply STOP to opt out" in welcome
    assert "Willow Creek" in welcome
    [done] = await text(client, "Yes!")
    assert "You'll get appointment reminders" in done
    async with app[1].db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
        consents = (await session.scalars(select(Consent))).all()
    assert patient.pending_question is None
    assert {(c.granted, c.source, c.recorded_at) for c in consents} == {
        (True, "sms:yes", clock.now)
    }
    assert len(consents) == 3


async def test_a_first_question_gets_the_welcome_and_the_answer(client: httpx.AsyncClient) -> None:
    replies = await text(client, "how long do cupping marks last?")
    assert len(replies) == 2
    assert "Reply YES" in replies[0]
    assert "mark" in replies[1].lower()


@pytest.mark.parametrize("body", ["how long do cupping marks last?", "STOP", "hello"])
async def test_one_inbound_text_is_one_write_transaction(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], body: str
) -> None:
    # Each transaction is a turn at the database (SQLite has one writer): the delivery check,
    # the patient, the keyword or the core's answer and the log all share one.
    begun: list[object] = []
    engine, record = app[1].db.engine.sync_engine, begun.append
    event.listen(engine, "begin", record)
    try:
        await text(client, "hi")
        begun.clear()
        replies = await text(client, body)
    finally:
        event.remove(engine, "begin", record)
    assert replies and len(begun) == 1


async def test_red_flags_come_first_even_on_first_contact(
    client: httpx.AsyncClient, app: tuple[Starlette, Services]
) -> None:
    replies = await text(client, "I have crushing chest pain and can't breathe")
    assert "911" in replies[0]
    async with app[1].db.session() as session:
        assert len((await session.scalars(select(SafetyEvent))).all()) == 1


@pytest.mark.parametrize("word", ["STOP", "stop.", " Cancel ", "UNSUBSCRIBE", "quit", "Parar"])
async def test_stop_words_opt_out_of_everything_with_one_confirmation(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], word: str
) -> None:
    await text(client, "hi")
    [confirmation] = await text(client, word)
    assert "START" in confirmation
    async with app[1].db.session() as session:
        address = (await session.scalars(select(Address))).one()
        consents = (await session.scalars(select(Consent))).all()
        events = (await session.scalars(select(ConsentEvent))).all()
    assert address.opted_out_at is not None
    assert len(consents) == 3 and not any(c.granted for c in consents)
    assert {e.source for e in events} == {"sms:stop"}


async def test_an_opted_out_number_gets_nothing_until_start(
    client: httpx.AsyncClient, app: tuple[Starlette, Services]
) -> None:
    await text(client, "STOP")
    assert await text(client, "how much does a visit cost?") == []
    assert await text(client, "HELP") == []
    [back] = await text(client, "START")
    assert "You'll get appointment reminders" in back
    async with app[1].db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert address.opted_out_at is None
    assert len(await text(client, "how much does a visit cost?")) == 1


async def test_yes_re_subscribes_an_opted_out_patient(client: httpx.AsyncClient) -> None:
    await text(client, "STOP")
    [back] = await text(client, "SÍ")
    assert "Recibira recordatorios" in back  # folded to GSM-7


@pytest.mark.parametrize("word", ["HELP", "info", "Ayuda"])
async def test_help_names_the_clinic_its_phone_and_how_to_opt_out(
    client: httpx.AsyncClient, word: str
) -> None:
    [help_text] = await text(client, word)
    assert "Willow Creek" in help_text and "(503) 555-0142" in help_text
    assert "STOP" in help_text


async def _appointment(services: Services, clock: FakeClock) -> int:
    async with services.db.session() as session, session.begin():
        patient = (await session.scalars(select(Patient))).one()
        appointment = Appointment(
            patient_id=patient.id,
            starts_at=clock.now + timedelta(days=2),
            created_at=clock.now,
            updated_at=clock.now,
        )
        session.add(appointment)
        await session.flush()
        patient.pending_question = f"appointment:{appointment.id}"
        return appointment.id


@pytest.mark.parametrize(
    ("reply", "status", "answer"),
    [
        ("C", "confirmed", "confirmed"),
        ("yes I'll be there", "confirmed", "confirmed"),
        ("YES", "confirmed", "confirmed"),
        ("R", "booked", "new time"),
        ("can we move it to Thursday?", "booked", "new time"),
    ],
)
async def test_appointment_replies_confirm_or_ask_to_reschedule(
    client: httpx.AsyncClient,
    app: tuple[Starlette, Services],
    clock: FakeClock,
    reply: str,
    status: str,
    answer: str,
) -> None:
    await text(client, "hi")
    await text(client, "yes")
    appointment_id = await _appointment(app[1], clock)
    [said] = await text(client, reply)
    assert answer in said
    async with app[1].db.session() as session:
        appointment = await session.get(Appointment, appointment_id)
        audit = (await session.scalars(select(AuditEntry))).one()
        patient = (await session.scalars(select(Patient))).one()
    assert appointment is not None and appointment.status == status
    assert audit.target == f"appointment:{appointment_id}"
    assert patient.pending_question is None


async def test_a_question_while_a_confirmation_is_pending_is_answered(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    await text(client, "hi")
    await text(client, "yes")
    await _appointment(app[1], clock)
    [answer] = await text(client, "do you take insurance?")
    assert "insurance" in answer.lower() or "network" in answer.lower()
    async with app[1].db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.pending_question is not None


async def test_a_red_flag_in_an_appointment_reply_is_triaged_not_confirmed(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    await text(client, "hi")
    await text(client, "yes")
    appointment_id = await _appointment(app[1], clock)
    [said] = await text(client, "yes I'll be there but since this morning I can't feel my legs")
    assert "911" in said
    async with app[1].db.session() as session:
        appointment = await session.get(Appointment, appointment_id)
        events = (await session.scalars(select(SafetyEvent))).all()
    assert appointment is not None and appointment.status == "booked"
    assert [event.category for event in events] == ["emergency"]


async def test_a_repeated_delivery_is_answered_once(client: httpx.AsyncClient) -> None:
    params = payload("inbound", Body="hello")
    first = await post_signed(client, "/sms/inbound", params)
    again = await post_signed(client, "/sms/inbound", params)
    assert "<Message" in first.text and "<Message" not in again.text


def _split(params: list[tuple[str, str]], key: str, at: int) -> list[tuple[str, str]]:
    """Rename `key` to its first `at` letters, moving the rest into the value (same signature)."""
    return [(k[:at], k[at:] + v) if k == key else (k, v) for k, v in params]


@pytest.mark.parametrize("fields", ["all", "MessageSid"])
async def test_a_replay_with_a_renamed_message_sid_is_not_answered_again(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], fields: str
) -> None:
    """Twilio signs names and values run together: `M=essageSid...` keeps the signature."""
    params = payload("inbound", Body="hello")
    assert "<Message" in (await post_signed(client, "/sms/inbound", params)).text
    replay = _split(params, "MessageSid", 1)
    if fields == "all":
        replay = _split(_split(replay, "SmsMessageSid", 1), "SmsSid", 4)
    assert sign(PUBLIC_URL + "/sms/inbound", replay) == sign(PUBLIC_URL + "/sms/inbound", params)
    response = await post_signed(client, "/sms/inbound", replay)
    if fields == "all":  # no message id left: refused, never handled without the check
        assert response.status_code == 400 and response.text == "MessageSid is required"
    else:  # SmsMessageSid and SmsSid still name it: a duplicate
        assert response.status_code == 200 and "<Message" not in response.text
    async with app[1].db.session() as session:
        logged = (await session.scalars(select(MessageLog))).all()
    assert len([row for row in logged if row.direction == "in"]) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"MessageSid": "", "SmsMessageSid": "", "SmsSid": ""}, "MessageSid is not a Twilio"),
        ({"MessageSid": "SM" + "0" * 31}, "MessageSid is not a Twilio message id"),
        ({"MessageSid": "SM" + "0" * 32 + "x" * 40}, "MessageSid is not a Twilio message id"),
        ({"SmsSid": "SM" + "1" * 32}, "MessageSid, SmsMessageSid and SmsSid disagree"),
    ],
)
async def test_inbound_sms_needs_one_well_formed_message_id(
    client: httpx.AsyncClient,
    app: tuple[Starlette, Services],
    changes: dict[str, str],
    reason: str,
) -> None:
    response = await post_signed(client, "/sms/inbound", payload("inbound", **changes))
    assert response.status_code == 400
    assert response.text.startswith(reason) and "\n" not in response.text
    async with app[1].db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []


async def test_inbound_sms_without_any_message_id_is_refused(client: httpx.AsyncClient) -> None:
    params = [(k, v) for k, v in payload("inbound") if not k.endswith("Sid") or "Account" in k]
    params = [(k, v) for k, v in params if k != "MessagingServiceSid"]
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 400 and response.text == "MessageSid is required"


@pytest.mark.parametrize("sender", ["whatsapp:+15035550199", "messenger:1234567890"])
async def test_a_non_sms_sender_is_refused_in_one_line(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], sender: str
) -> None:
    """A WhatsApp message pointed at the SMS webhook is not taken as a text from that number."""
    response = await post_signed(client, "/sms/inbound", payload("inbound", From=sender))
    assert response.status_code == 400
    scheme = sender.split(":")[0]
    assert response.text == f"From: {scheme}: is not an SMS sender; this webhook takes SMS only"
    async with app[1].db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []


async def test_a_nul_in_a_stored_body_is_answered_and_stored_replaced(
    database_url: str, clock: FakeClock
) -> None:
    """STORE_MESSAGE_BODIES on PostgreSQL: a NUL in the text was a 500 and no reply."""
    async with running_sms_app(database_url, clock, store_message_bodies=True) as (app, services):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5") as client:
            replies = await text(client, "what are your\x00 hours?")
        async with services.db.session() as session:
            stored = select(MessageLog.body).where(MessageLog.direction == "in")
            bodies = list(await session.scalars(stored))
    assert replies
    assert bodies == ["what are your\ufffd hours?"]


async def test_status_21610_opts_the_number_out(
    client: httpx.AsyncClient, app: tuple[Starlette, Services]
) -> None:
    await text(client, "hi")
    response = await post_signed(client, "/sms/status", payload("status_failed_21610"))
    assert response.status_code == 204
    async with app[1].db.session() as session:
        address = (await session.scalars(select(Address))).one()
        logged = (
            await session.scalars(select(MessageLog).where(MessageLog.external_id.is_not(None)))
        ).all()
    assert address.opted_out_at is not None
    assert [(m.status, m.direction) for m in logged if m.external_id.startswith("SM1a")] == [
        ("failed", "out")
    ]


@pytest.mark.parametrize("code", ["21211", "21614"])
async def test_status_invalid_or_landline_marks_the_address_unreachable(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], code: str
) -> None:
    await text(client, "hi")
    params = payload("status_failed_21610", ErrorCode=code)
    assert (await post_signed(client, "/sms/status", params)).status_code == 204
    async with app[1].db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert not address.reachable and address.unreachable_reason == f"twilio:{code}"
    assert address.opted_out_at is None


@pytest.mark.parametrize("code", ["9" * 5000, "\uff12\uff11\uff16\uff11\uff10", "-21610"])
async def test_a_status_with_a_nonsense_error_code_is_recorded_without_one(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], code: str
) -> None:
    await text(client, "hi")
    params = payload("status_failed_21610", ErrorCode=code)
    assert (await post_signed(client, "/sms/status", params)).status_code == 204
    async with app[1].db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert address.reachable and address.opted_out_at is None  # no code, no conclusion


async def test_status_updates_the_logged_message(
    client: httpx.AsyncClient, app: tuple[Starlette, Services]
) -> None:
    sid = "SM1a2b3c4d5e6f708192a3b4c5d6e7f809"
    for status in ("sent", "delivered"):
        params = payload("status_failed_21610", MessageStatus=status, ErrorCode="")
        assert (await post_signed(client, "/sms/status", params)).status_code == 204
    async with app[1].db.session() as session:
        rows = (
            await session.scalars(select(MessageLog).where(MessageLog.external_id == sid))
        ).all()
    assert [row.status for row in rows] == ["delivered"]


async def test_status_callbacks_need_a_signature(client: httpx.AsyncClient) -> None:
    response = await post_signed(
        client, "/sms/status", payload("status_failed_21610"), signature=""
    )
    assert response.status_code == 403


async def test_the_app_mounts_sms_only_with_twilio_settings(database_url: str) -> None:
    from bot.settings import load_settings

    plain = create_app(load_settings(database_url=database_url))
    assert "/sms/inbound" not in {getattr(r, "path", "") for r in plain.routes}
    app = create_app(sms_settings(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            assert (
                await post_signed(c, "/sms/inbound", payload("inbound"), signature="")
            ).status_code == 403
            assert (await post_signed(c, "/sms/inbound", payload("inbound"))).status_code == 200


async def test_tips_are_chosen_by_text(
    client: httpx.AsyncClient, app: tuple[Starlette, Services]
) -> None:
    await text(client, "hi")
    [summary] = await text(client, "TIPS EXERCISE ON")
    assert "Willow Creek" in summary and "tips:" in summary and "09:00" in summary
    [moved] = await text(client, "tips 6pm")
    assert "18:00" in moved
    [night] = await text(client, "TIPS 23:00")
    assert "between 8am and 9pm" in night
    [faq] = await text(client, "tips for sciatica?")
    assert "TIPS" not in faq  # a question, not a command
    async with app[1].db.session() as session:
        rows = (await session.scalars(select(ReminderPreference))).all()
        consent = await session.scalar(
            select(Consent.granted).where(Consent.category == ConsentCategory.TIPS)
        )
    assert {(r.category, r.enabled, r.local_time) for r in rows} >= {("exercise", True, "18:00")}
    assert consent is True
