"""Act on a picked option (a Telegram button, a numbered choice): route by its payload prefix.

A stale or forged payload gets a gentle note (kind STALE) instead of a guess; Telegram shows
it as the button's pop-up, other channels as a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.conversation import topics
from handlers.conversation.answer import HUMAN_PAYLOAD, MORE_PREFIX, TOPIC_PREFIX
from handlers.conversation.onboarding import PREFIX as ONBOARDING
from handlers.conversation.onboarding import REQUEST_CONTACT
from handlers.conversation.requests import Requests
from handlers.conversation.visit import Visit
from handlers.messages import OutboundMessage, ReplyKind
from handlers.patients import appointments, preferences, privacy
from handlers.staff.tickets import ticket_posts_of
from handlers.wording import option, say

__all__ = ["MENU_PAYLOADS", "Buttons", "answered_by_core"]

MENU_PAYLOADS = {"menu:topics", "menu:reminders", "menu:appointments"}


def answered_by_core(payload: str) -> bool:
    """Say whether a payload is a topic or a person, which the answering core takes."""
    return payload == HUMAN_PAYLOAD or payload.startswith((TOPIC_PREFIX, MORE_PREFIX))


@dataclass(frozen=True)
class Buttons:
    """Carry out picked options for the visit's patient."""

    requests: Requests

    async def press(self, visit: Visit, payload: str) -> list[OutboundMessage] | None:
        """Return the replies to a picked option, or None when it is stale or unknown."""
        r, session, patient, now = self.requests, visit.session, visit.patient, visit.now
        content, zone = r.content, r.clinic_zone
        if payload.startswith(ONBOARDING):
            return await r.onboarding.choose(session, patient, payload, now=now)
        if payload == REQUEST_CONTACT:
            # Picked as a numbered choice: only Telegram's button shares a verified number, so
            # the step is skipped here (staff can add a number).
            return await r.onboarding.choose(
                session, patient, f"{ONBOARDING}contact:skip", now=now
            )
        if payload.startswith(preferences.PREFIX):
            found = await preferences.apply(
                session, content, patient, payload, clinic_zone=zone, now=now
            )
            return [found] if found else None
        if payload.startswith("lang:"):
            return await r.language(visit, payload.removeprefix("lang:"))
        if payload == privacy.FORGET_NO:
            return [say(content, "privacy_kept", visit.lang)]
        if payload.startswith(privacy.FORGET_YES):
            return await self._forget(visit, payload)
        if payload.startswith(appointments.PREFIX):
            reply, reschedule = await appointments.choose(
                session, content, patient, payload, clinic_zone=zone, now=now
            )
            if reschedule is not None:
                visit.effects.reschedules.append(reschedule)
            return [reply]
        if payload == "menu:reminders":
            return await r.reminders(visit)
        if payload == "menu:appointments":
            return await r.appointments(visit)
        return None

    async def _forget(self, visit: Visit, payload: str) -> list[OutboundMessage]:
        r, patient = self.requests, visit.patient
        # Erase only on the fresh button we offered this address: never a forged or old one.
        confirmed = await privacy.forget_confirmed(
            visit.session,
            payload,
            r.forget_key,
            address=visit.message.address,
            patient=patient,
            now=visit.now,
        )
        if not confirmed:
            return [say(r.content, "privacy_forget_expired", visit.lang)]
        # The staff group's posts carry the patient's words: removed after the commit.
        visit.effects.erased_posts.extend(await ticket_posts_of(visit.session, patient.id))
        await privacy.forget(
            visit.session, patient.id, actor=f"patient:{patient.id}", now=visit.now
        )
        visit.effects.erased_patient = True
        return [say(r.content, "privacy_forgotten", visit.lang)]

    def stale(self, lang: str) -> OutboundMessage:
        """Return the note for a button that no longer applies."""
        return say(self.requests.content, "onboarding_stale", lang, kind=ReplyKind.STALE)

    def browse_target(self, payload: str) -> str | None:
        """Return the topics payload to show for a browse button, or None if it is not one."""
        if payload == "menu:topics":
            return f"{topics.PREFIX}1"
        return payload if payload.startswith(topics.PREFIX) else None

    def with_back(self, reply: OutboundMessage, number: int, lang: str) -> OutboundMessage:
        """Add a "back to the list" option to a topic opened from the list."""
        back = option(self.requests.content, "option_back", lang, f"{topics.PREFIX}{number}")
        return OutboundMessage(
            text=reply.text,
            sms=reply.sms,
            kind=reply.kind,
            lang=reply.lang,
            options=(*reply.options, back),
            topic=reply.topic,
        )
