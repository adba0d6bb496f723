"""Buttons: every callback query is answered; stale or forged data gets a gentle note."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.channels.telegram.deps import Context, Deps, deps, inbound, patient_session
from bot.channels.telegram.replies import edit_or_send, send_all
from bot.channels.telegram.staff_group import erase_ticket_posts
from handlers import appointments, preferences, privacy, topics
from handlers.alerts import StaffDesk
from handlers.answer import HUMAN_PAYLOAD, TOPIC_PREFIX
from handlers.messages import Channel, OutboundMessage
from handlers.onboarding import PREFIX as ONBOARDING
from handlers.tickets import ticket_posts_of
from handlers.wording import option, say

__all__ = ["button"]

_MENU = {"menu:topics", "menu:reminders", "menu:appointments"}


async def _browse(d: Deps, update: Update, payload: str, lang: str) -> OutboundMessage | None:
    parsed = topics.parse(payload)
    if parsed is None:
        return None
    topic, number = parsed
    if topic is None:
        return topics.page(d.content, lang, number)
    [reply] = await d.conversation.handle(
        inbound(update, d, text=None, payload=TOPIC_PREFIX + topic)
    )
    back = option(d.content, "option_back", lang, f"{topics.PREFIX}{number}")
    return OutboundMessage(
        text=reply.text,
        sms=reply.sms,
        kind=reply.kind,
        lang=reply.lang,
        options=(*reply.options, back),
        topic=reply.topic,
    )


async def _in_place(
    d: Deps,
    update: Update,
    payload: str,
    pending_reschedules: list[tuple[int, int]],
    forget_key: bytes,
    erased_posts: list[tuple[int, int, int]],
) -> list[OutboundMessage] | None:
    now, chat = d.clock(), update.effective_chat
    assert chat is not None
    async with patient_session(d, update, create=False) as (session, patient):
        if patient is None:
            return None
        lang = patient.language or "en"
        zone = d.clinic_zone
        if payload.startswith(ONBOARDING):
            return await d.onboarding.choose(session, patient, payload, now=now)
        if payload.startswith(preferences.PREFIX):
            found = await preferences.apply(
                session, d.content, patient, payload, clinic_zone=zone, now=now
            )
            return [found] if found else None
        if payload.startswith("lang:"):
            changed = preferences.set_language(
                d.content, patient, payload.removeprefix("lang:"), now=now
            )
            return [changed] if changed else None
        if payload == privacy.FORGET_NO:
            return [say(d.content, "privacy_kept", lang)]
        if payload.startswith(privacy.FORGET_YES):
            # Erase only on the fresh button we offered this chat: never on a forged or old one.
            confirmed = await privacy.forget_confirmed(
                session, payload, forget_key, chat_id=chat.id, patient=patient, now=now
            )
            if not confirmed:
                return [say(d.content, "privacy_forget_expired", lang)]
            # The staff group's posts carry the patient's words: removed after the commit.
            erased_posts.extend(await ticket_posts_of(session, patient.id))
            await privacy.forget(session, patient.id, actor=f"patient:{patient.id}", now=now)
            return [say(d.content, "privacy_forgotten", lang)]
        if payload.startswith(appointments.PREFIX):
            reply, reschedule = await appointments.choose(
                session, d.content, patient, payload, clinic_zone=zone, now=now
            )
            if reschedule is not None:
                pending_reschedules.append((patient.id, reschedule))
            return [reply]
        if payload == "menu:reminders":
            return [
                await preferences.summary(session, d.content, patient, clinic_zone=zone, now=now)
            ]
        if payload == "menu:appointments":
            return [
                await appointments.listing(session, d.content, patient, clinic_zone=zone, now=now)
            ]
    return None


async def _erase_posts(
    context: Context, d: Deps, update: Update, posts: list[tuple[int, int, int]]
) -> None:
    erase = erase_ticket_posts(context.bot, d.content, posts, alerts=d.conversation.alerts)
    if context.application.running:
        # Paced (the staff group takes about a message a second): in the background, so other
        # patients' updates do not wait; the Application awaits it when it stops.
        context.application.create_task(erase, update=update, name="erase-ticket-posts")
    else:
        await erase


async def button(update: Update, context: Context) -> None:
    """Act on a pressed button, answering the callback query exactly once."""
    d, query, chat = deps(context), update.callback_query, update.effective_chat
    assert query is not None
    payload = query.data or ""
    if chat is None or chat.type != ChatType.PRIVATE:
        await query.answer()
        return
    replies: list[OutboundMessage] | None
    erased: list[tuple[int, int, int]] = []  # staff-group posts of a patient just erased
    if payload == HUMAN_PAYLOAD or payload.startswith(TOPIC_PREFIX):
        await query.answer()
        replies = await d.conversation.handle(inbound(update, d, text=None, payload=payload))
        await send_all(context.bot, chat.id, replies)
        return
    if payload == "menu:topics" or payload.startswith(topics.PREFIX):
        target = f"{topics.PREFIX}1" if payload == "menu:topics" else payload
        async with patient_session(d, update, create=False) as (_, patient):
            lang = (patient.language if patient else None) or "en"
        page = await _browse(d, update, target, lang)
        replies = [page] if page else None
    else:
        reschedules: list[tuple[int, int]] = []
        key = privacy.forget_key(context.bot.token)
        replies = await _in_place(d, update, payload, reschedules, key, erased)
        # After the commit: staff get the request (a ticket when a staff group is set up).
        desk = d.conversation.alerts
        for patient_id, appointment_id in reschedules:
            if isinstance(desk, StaffDesk):
                await desk.reschedule(
                    patient_id=patient_id, appointment_id=appointment_id, channel=Channel.TELEGRAM
                )
    if replies is None:
        async with patient_session(d, update, create=False) as (_, patient):
            lang = (patient.language if patient else None) or "en"
        await query.answer(d.content.message("onboarding_stale", lang).text)
        return
    await query.answer()
    fresh = payload.startswith(appointments.PREFIX) or payload in _MENU
    if fresh:
        await send_all(context.bot, chat.id, replies)
    else:
        await edit_or_send(query, chat.id, replies)
    if erased:  # after the patient has their answer
        await _erase_posts(context, d, update, erased)
