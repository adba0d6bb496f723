"""Onboarding as data: steps, their options and transitions, kept in patients.onboarding_step.

Because the step lives in the database, a restart mid-conversation resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ConsentCategory, Patient, TipCategory
from bot.db.patients import consents_of, set_consent
from content.store import ContentStore
from handlers.conversation.answer import HUMAN_PAYLOAD
from handlers.messages import OutboundMessage, QuickReply
from handlers.patients.contacts import link_phone
from handlers.patients.preferences import (
    LANGUAGE_NAMES,
    TIMES,
    change_zone,
    known_zone,
    preferences_of,
    set_time,
    set_tip,
    tip_toggles,
    zone_of,
)
from handlers.wording import option, say

__all__ = ["DONE", "PREFIX", "REQUEST_CONTACT", "Onboarding", "Step", "menu"]

PREFIX = "ob:"
DONE = "done"
# An option asking the channel for the patient's own phone number (Telegram's contact button).
REQUEST_CONTACT = "share_contact"
SOURCE = "onboarding"


class Step(StrEnum):
    """The onboarding questions, in order."""

    LANGUAGE = "language"
    CONSENT_APPOINTMENTS = "consent_appointments"
    CONSENT_TIPS = "consent_tips"
    CONSENT_ANNOUNCEMENTS = "consent_announcements"
    TIPS = "tips"
    TIME = "time"
    TIMEZONE = "timezone"
    CONTACT = "contact"


ORDER = tuple(Step)
CONSENT_STEPS = {
    Step.CONSENT_APPOINTMENTS: ConsentCategory.APPOINTMENTS,
    Step.CONSENT_TIPS: ConsentCategory.TIPS,
    Step.CONSENT_ANNOUNCEMENTS: ConsentCategory.ANNOUNCEMENTS,
}
TIP_STEPS = frozenset({Step.TIPS, Step.TIME})  # asked only of patients who want tips


def menu(content: ContentStore, lang: str) -> OutboundMessage:
    """Return the main menu: topics, reminders, appointments and a person."""
    options = (
        option(content, "menu_topics", lang, "menu:topics"),
        option(content, "menu_reminders", lang, "menu:reminders"),
        option(content, "menu_appointments", lang, "menu:appointments"),
        option(content, "talk_to_staff", lang, HUMAN_PAYLOAD),
    )
    return say(content, "menu", lang, options=options)


@dataclass(frozen=True)
class Onboarding:
    """Ask the onboarding questions one at a time and record each answer."""

    content: ContentStore
    clinic_zone: str
    region: str = "US"

    def step_of(self, patient: Patient) -> Step | None:
        """Return the question the patient is on, or None when not onboarding."""
        step = patient.onboarding_step
        return Step(step) if step in set(Step) else None

    async def begin(
        self, session: AsyncSession, patient: Patient, *, lang_hint: str, now: datetime
    ) -> list[OutboundMessage]:
        """Welcome the patient and ask the first question."""
        patient.language = patient.language or (lang_hint if lang_hint in LANGUAGE_NAMES else "en")
        patient.onboarding_step, patient.updated_at = Step.LANGUAGE, now
        welcome = say(self.content, "onboarding_welcome", patient.language)
        return [welcome, await self.prompt(session, patient, now=now)]

    async def prompt(
        self, session: AsyncSession, patient: Patient, *, now: datetime
    ) -> OutboundMessage:
        """Return the question for the patient's current step (the menu once done)."""
        lang, step = patient.language or "en", self.step_of(patient)
        content = self.content
        if step is None:
            return menu(content, lang)
        if step is Step.LANGUAGE:
            options = tuple(
                QuickReply(name, f"{PREFIX}{step}:{code}") for code, name in LANGUAGE_NAMES.items()
            )
        elif step in CONSENT_STEPS:
            options = (
                option(content, "option_yes", lang, f"{PREFIX}{step}:yes"),
                option(content, "option_no", lang, f"{PREFIX}{step}:no"),
            )
        elif step is Step.TIPS:
            prefs = await preferences_of(session, patient.id, now=now)
            done = option(content, "option_done", lang, f"{PREFIX}{step}:done")
            options = (*tip_toggles(content, prefs, lang, f"{PREFIX}{step}:"), done)
        elif step is Step.TIME:
            options = tuple(
                option(content, f"time_{name}", lang, f"{PREFIX}{step}:{name}") for name in TIMES
            )
        elif step is Step.TIMEZONE:
            zone = zone_of(patient, self.clinic_zone)
            options = (option(content, "option_keep", lang, f"{PREFIX}{step}:keep", zone=zone),)
            return say(content, "onboarding_timezone", lang, options=options, zone=zone)
        else:
            options = (
                option(content, "option_share_contact", lang, REQUEST_CONTACT),
                option(content, "option_skip", lang, f"{PREFIX}{step}:skip"),
            )
        return say(content, f"onboarding_{step}", lang, options=options)

    async def choose(
        self, session: AsyncSession, patient: Patient, payload: str, *, now: datetime
    ) -> list[OutboundMessage] | None:
        """Apply a picked option; None when it is stale (another step) or malformed."""
        step_name, _, value = payload.removeprefix(PREFIX).partition(":")
        step = self.step_of(patient)
        if step is None or step_name != step:
            return None
        if step is Step.LANGUAGE and value in LANGUAGE_NAMES:
            patient.language = value
        elif step in CONSENT_STEPS and value in {"yes", "no"}:
            await set_consent(
                session,
                patient.id,
                CONSENT_STEPS[step],
                granted=value == "yes",
                source=SOURCE,
                now=now,
            )
        elif step is Step.TIPS and value in set(TipCategory):
            row = (await preferences_of(session, patient.id, now=now))[TipCategory(value)]
            await set_tip(
                session, patient.id, TipCategory(value), enabled=not row.enabled, now=now
            )
            return [await self.prompt(session, patient, now=now)]
        elif step is Step.TIME and value in TIMES:
            await set_time(session, patient.id, TIMES[value], now)
        elif not (
            (step is Step.TIPS and value == "done")
            or (step is Step.TIMEZONE and value == "keep")
            or (step is Step.CONTACT and value == "skip")
        ):
            return None
        return await self._advance(session, patient, now=now)

    async def typed(
        self, session: AsyncSession, patient: Patient, text: str, *, now: datetime
    ) -> list[OutboundMessage] | None:
        """Take typed text as an answer when the step expects one; None when it is not one."""
        step, lang = self.step_of(patient), patient.language or "en"
        words = text.split()
        if step is Step.TIMEZONE and len(words) == 1:
            zone = known_zone(words[0])
            if zone is None:
                return [say(self.content, "timezone_unknown", lang, zone=words[0][:64])]
            await change_zone(session, patient, zone, now)
            return await self._advance(session, patient, now=now)
        skip = {
            self.content.message("option_skip", code).text.casefold() for code in LANGUAGE_NAMES
        }
        if step is Step.CONTACT and text.strip().casefold() in skip:
            return await self._advance(session, patient, now=now)
        return None

    async def contact(
        self, session: AsyncSession, patient: Patient, phone: str, *, own: bool, now: datetime
    ) -> tuple[Patient, list[OutboundMessage]]:
        """Link a shared contact (only the sender's own) and move on; return the patient kept."""
        lang = patient.language or "en"
        if not own:
            return patient, [say(self.content, "onboarding_contact_not_own", lang)]
        kept = await link_phone(session, patient, phone, region=self.region, now=now)
        if kept is None:
            return patient, [say(self.content, "onboarding_contact_not_own", lang)]
        replies = [say(self.content, "onboarding_contact_saved", lang)]
        if self.step_of(kept) is Step.CONTACT:
            replies += await self._advance(session, kept, now=now)
        return kept, replies

    async def _advance(
        self, session: AsyncSession, patient: Patient, *, now: datetime
    ) -> list[OutboundMessage]:
        step = self.step_of(patient)
        index = ORDER.index(step) + 1 if step is not None else len(ORDER)
        wants_tips = (await consents_of(session, patient.id)).get(ConsentCategory.TIPS, False)
        while index < len(ORDER) and ORDER[index] in TIP_STEPS and not wants_tips:
            index += 1
        if index < len(ORDER):
            patient.onboarding_step, patient.updated_at = ORDER[index], now
            return [await self.prompt(session, patient, now=now)]
        patient.onboarding_step, patient.updated_at = DONE, now
        if not wants_tips:
            for category in TipCategory:
                await set_tip(session, patient.id, category, enabled=False, now=now)
        lang = patient.language or "en"
        return [say(self.content, "onboarding_done", lang), menu(self.content, lang)]
