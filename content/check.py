"""Check the content folder and load it: schema, ids, languages, variables, links and SMS size."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from content.opening_hours import parse_opening_hours
from content.sms import count_segments, to_sms_text
from content.store import (
    AnswerFile,
    ContentStore,
    Problem,
    build_store,
    read_answer_file,
    read_yaml,
)
from content.text import LANGUAGES
from content.tips import check_tips
from content.variables import UnknownVariableError, problem_with, render, variables_in

__all__ = [
    "MAX_SHORT_CHARS",
    "REQUIRED_MESSAGES",
    "REQUIRED_TOPICS",
    "check_content",
    "load_content",
]

REQUIRED_TOPICS = (
    "acupuncture.what",
    "cupping.what",
    "acupuncture.how_it_works",
    "acupuncture.pain",
    "acupuncture.needles",
    "acupuncture.electro",
    "acupuncture.dry_needling",
    "treatment.duration",
    "conditions.back_pain",
    "conditions.other",
    "results.timeline",
    "sessions.count",
    "integrative.combine",
    "medication",
    "doctor.replace",
    "safety.general",
    "safety.pregnancy",
    "safety.blood_thinners",
    "safety.pacemaker",
    "cupping.skin_conditions",
    "needle_fear",
    "period",
    "ages",
    "visit.what_to_wear",
    "visit.eating",
    "visit.first",
    "visit.tongue_pulse",
    "aftercare.activity",
    "aftercare.tired_sore",
    "cupping.marks",
    "billing.insurance",
    "billing.hsa_superbill",
    "policy.cancellation",
    "practitioners.credentials",
    "clinic.hours_location",
    "booking.how",
    "pricing",
    "selfcare.exercise",
    "selfcare.diet",
    "selfcare.meditation",
    "herbs",
    "conditions.weight_loss",
    "conditions.smoking",
    "conditions.sleep",
    "conditions.stress_anxiety",
    "conditions.headache",
    "conditions.neuropathy",
    "visit.when_sick",
    "aftercare.bruising",
    "results.how_long_relief",
    "billing.medicaid",
    "billing.medicare",
)
REQUIRED_MESSAGES = (
    "disclaimer",
    "greeting",
    "help",
    "thanks",
    "fallback",
    "fallback_with_topics",
    *(
        f"fallback{v}"
        for v in ("_2", "_3", "_with_topics_2", "_with_topics_3", "_human", "_human_2")
    ),
    "more",
    "non_text",
    "long_message",
    "human",
    "talk_to_staff",
    "red_flag_emergency",
    "red_flag_crisis",
    "red_flag_urgent",
    "tip",
    "nudge_before_48h",
    "nudge_before_2h",
    "nudge_day_after",
    "nudge_rebook",
    "confirm_button",
    "reschedule_button",
    "pain_score_thanks",
    "broadcast",
    "sms_welcome",
    "sms_opted_in",
    "sms_stop_confirmation",
    "sms_help",
    "sms_appointment_confirmed",
    "sms_appointment_reschedule",
    "sms_appointment_unknown",
    "sms_opt_out",
    "sms_resubscribed",
    "sms_how_to_stop",
    # Telegram onboarding, menus, reminders, appointments and privacy
    # (handlers/conversation/onboarding.py ...)
    "onboarding_welcome",
    "onboarding_language",
    "onboarding_consent_appointments",
    "onboarding_consent_tips",
    "onboarding_consent_announcements",
    "onboarding_tips",
    "onboarding_time",
    "onboarding_timezone",
    "onboarding_contact",
    "onboarding_contact_saved",
    "onboarding_contact_not_own",
    "onboarding_done",
    "onboarding_stale",
    "option_yes",
    "option_no",
    "option_done",
    "option_skip",
    "option_keep",
    "option_share_contact",
    "option_next",
    "option_previous",
    "option_back",
    "tip_exercise",
    "tip_diet",
    "tip_meditation",
    "time_morning",
    "time_midday",
    "time_evening",
    "menu",
    "menu_topics",
    "menu_reminders",
    "menu_appointments",
    "chat_group",
    "chat_stopped",
    "chat_resubscribed",
    "language_prompt",
    "language_set",
    "reminders_summary",
    "reminders_none",
    "reminders_active",
    "reminders_paused",
    "reminders_no_consent",
    "reminders_pause",
    "reminders_resume",
    "reminders_change_zone",
    "days_every",
    "days_weekdays",
    "days_weekends",
    "timezone_prompt",
    "timezone_set",
    "timezone_unknown",
    "appointments_none",
    "appointments_list",
    "appointment_confirm",
    "appointment_reschedule",
    "appointment_confirmed",
    "appointment_reschedule_noted",
    "appointment_unknown",
    "topics_browse",
    "privacy_export",
    "privacy_forget_confirm",
    "privacy_forget_yes",
    "privacy_forget_no",
    "privacy_forget_expired",
    "privacy_forgotten",
    "privacy_kept",
    "telegram_commands",
    "sms_tips_summary",
    "sms_tips_paused",
    "sms_tips_none",
    "sms_tips_help",
    "sms_tips_night",
    "sms_tips_zone",
    # Staff: the /broadcast wizard and delivery reports (bot/channels/telegram/staff_broadcast.py)
    *(
        f"staff_bc_{key}"
        for key in (
            "ask_en ask_es english_only ask_audience audiences ask_tag ask_custom preview_lang "
            "preview send_now schedule discard confirm ask_time in_hour tomorrow confirm_text "
            "now created discarded stale error list none cancel cancelled report progress"
        ).split()
    ),
    # Hand-off to staff, alerts and stats (handlers/conversation/handoff.py,
    # handlers/staff/alerts.py, handlers/staff/stats.py)
    "ticket_opened",
    "ticket_after_hours",
    "ticket_already_open",
    "ticket_closed",
    *(
        f"staff_{key}"
        for key in (
            "ticket_opened ticket_message ticket_closed ticket_erased ticket_unknown "
            "ticket_reply_failed close_usage alert_red_flag alert_rule alert_reschedule "
            "alert_visit alert_nudge_failed stats"
        ).split()
    ),
)
REQUIRED_CLINIC_FACTS = ("name", "phone", "timezone", "address", "hours", "booking_url")
FIELDS = ("id", "lang", "title", "questions", "keywords", "related", "reviewed", "sms", "short")
MIN_QUESTIONS = 6
MAX_SMS_SEGMENTS = 2
MAX_SHORT_CHARS = 350  # the short form fits a phone screen with its title
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
# Claims the clinic has promised never to make (see docs/CONTENT.md).
_FORBIDDEN = re.compile(
    r"\b(cures?|cured|curing|detox\w*|toxins?|toxinas?|curan?|curar\w*)\b|\d+\s*%", re.IGNORECASE
)


def _check_clinic(path: Path, clinic: Any) -> list[Problem]:
    if not isinstance(clinic, dict):
        return [Problem(path, 1, "clinic.yaml must be a mapping of facts")]
    problems = [
        Problem(path, 1, f"missing clinic fact {key!r}")
        for key in REQUIRED_CLINIC_FACTS
        if key not in clinic
    ]
    zone = clinic.get("timezone")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(path, 1, f"timezone {zone!r} is not an IANA time zone"))
        return problems
    try:
        parse_opening_hours(clinic)
    except ValueError as exc:
        problems.append(Problem(path, 1, str(exc)))
    return problems


def _check_text(
    path: Path, line: int, template: str, clinic: Mapping[str, Any], lang: str
) -> list[Problem]:
    problems = []
    for name, offset in variables_in(template):
        problem = problem_with(name, clinic, lang)
        if problem is not None:
            problems.append(Problem(path, line + offset, problem))
    for offset, text_line in enumerate(template.splitlines()):
        for match in _FORBIDDEN.finditer(text_line):
            problems.append(Problem(path, line + offset, f"forbidden claim {match.group(0)!r}"))
    return problems


def _check_sms(
    path: Path, line: int, template: str, clinic: Mapping[str, Any], lang: str
) -> list[Problem]:
    try:
        text = to_sms_text(render(template, clinic, lang))
    except UnknownVariableError:
        return []  # reported by _check_text
    segments = count_segments(text)
    if segments.count > MAX_SMS_SEGMENTS:
        return [
            Problem(
                path,
                line,
                f"sms is {segments.count} {segments.encoding} segments ({segments.units} units); "
                f"at most {MAX_SMS_SEGMENTS} allowed",
            )
        ]
    return []


def _check_answer(file: AnswerFile, clinic: Mapping[str, Any]) -> list[Problem]:
    meta, path = file.meta, file.path
    problems = [
        Problem(path, file.line_of(k), f"unknown field {k!r}") for k in meta if k not in FIELDS
    ]
    problems += [Problem(path, 2, f"missing field {k!r}") for k in FIELDS if k not in meta]
    if problems:
        return problems
    lang, topic = meta["lang"], meta["id"]
    if lang not in LANGUAGES or path.parent.name != lang:
        problems.append(
            Problem(
                path,
                file.line_of("lang"),
                f"lang {lang!r} must be the folder name, one of {', '.join(LANGUAGES)}",
            )
        )
    if not isinstance(topic, str) or not _ID.match(topic) or path.stem != topic:
        problems.append(
            Problem(
                path,
                file.line_of("id"),
                f"id {topic!r} must be lower-case dotted and match the file name",
            )
        )
    for key in ("title", "sms", "short"):
        if not isinstance(meta[key], str) or not meta[key].strip():
            problems.append(Problem(path, file.line_of(key), f"{key} must be non-empty text"))
    for key in ("questions", "keywords", "related"):
        if not isinstance(meta[key], list) or not all(isinstance(x, str) for x in meta[key]):
            problems.append(Problem(path, file.line_of(key), f"{key} must be a list of text"))
    if isinstance(meta["questions"], list) and len(meta["questions"]) < MIN_QUESTIONS:
        problems.append(
            Problem(
                path,
                file.line_of("questions"),
                f"at least {MIN_QUESTIONS} example questions are needed",
            )
        )
    if not isinstance(meta["reviewed"], date):
        problems.append(
            Problem(path, file.line_of("reviewed"), "reviewed must be a date (YYYY-MM-DD)")
        )
    if not file.body.strip():
        problems.append(Problem(path, file.body_line, "the answer has no body"))
    if problems:
        return problems
    problems += _check_text(path, file.line_of("title"), meta["title"], clinic, lang)
    problems += _check_text(path, file.line_of("sms"), meta["sms"], clinic, lang)
    problems += _check_text(path, file.body_line, file.body, clinic, lang)
    problems += _check_text(path, file.line_of("short"), meta["short"], clinic, lang)
    problems += _check_sms(path, file.line_of("sms"), meta["sms"], clinic, lang)
    problems += _check_short(path, file.line_of("short"), meta["short"], clinic, lang)
    return problems


def _check_short(
    path: Path, line: int, template: str, clinic: Mapping[str, Any], lang: str
) -> list[Problem]:
    try:
        text = render(template, clinic, lang).strip()
    except UnknownVariableError:
        return []  # reported by _check_text
    if len(text) > MAX_SHORT_CHARS:
        return [
            Problem(
                path, line, f"short is {len(text)} characters; at most {MAX_SHORT_CHARS} allowed"
            )
        ]
    return []


def _check_messages(path: Path, raw: Any, clinic: Mapping[str, Any], lang: str) -> list[Problem]:
    if not isinstance(raw, dict):
        return [Problem(path, 1, "messages file must be a mapping of message names")]
    problems = [
        Problem(path, 1, f"missing message {key!r}") for key in REQUIRED_MESSAGES if key not in raw
    ]
    for key, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            problems.append(Problem(path, 1, f"message {key!r} needs a text"))
            continue
        problems += _check_text(path, 1, entry["text"], clinic, lang)
        sms = entry.get("sms", entry["text"])
        problems += _check_text(path, 1, str(sms), clinic, lang)
        problems += _check_sms(path, 1, str(sms), clinic, lang)
    return problems


def _read(directory: Path) -> tuple[list[Problem], Any, list[AnswerFile], dict[str, Any]]:
    problems: list[Problem] = []
    clinic: Any = {}
    clinic_path = directory / "clinic.yaml"
    try:
        clinic = read_yaml(clinic_path)
        problems += _check_clinic(clinic_path, clinic)
    except ValueError as exc:
        problems.append(_as_problem(exc, clinic_path))
    if not isinstance(clinic, dict):
        return problems, {}, [], {}
    files: list[AnswerFile] = []
    for path in sorted((directory / "answers").glob("*/*.md")):
        try:
            file = read_answer_file(path)
        except ValueError as exc:
            problems.append(_as_problem(exc, path))
            continue
        found = _check_answer(file, clinic)
        problems += found
        if not found:
            files.append(file)
    messages: dict[str, Any] = {}
    for lang in LANGUAGES:
        path = directory / "messages" / f"{lang}.yaml"
        try:
            messages[lang] = read_yaml(path)
        except ValueError as exc:
            problems.append(_as_problem(exc, path))
            continue
        problems += _check_messages(path, messages[lang], clinic, lang)
    keys = {lang: set(raw) for lang, raw in messages.items() if isinstance(raw, dict)}
    for lang, own in keys.items():
        # Every message in every language: a patient never gets a silent English fallback.
        for other, theirs in keys.items():
            for key in sorted(theirs - own):
                path = directory / "messages" / f"{lang}.yaml"
                problems.append(Problem(path, 1, f"message {key!r} is in {other}.yaml only"))
    return problems, clinic, files, messages


def _as_problem(exc: ValueError, path: Path) -> Problem:
    text = str(exc)
    prefix, _, message = text.partition(": ")
    line = prefix.rsplit(":", 1)[-1]
    return Problem(path, int(line) if line.isdigit() else 1, message or text)


def _coverage(files: list[AnswerFile], found: list[Problem], directory: Path) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Path] = {}
    for file in files:
        key = (str(file.meta["lang"]), str(file.meta["id"]))
        if key in seen:
            problems.append(
                Problem(file.path, file.line_of("id"), f"id {key[1]!r} is also in {seen[key]}")
            )
        seen[key] = file.path
    broken = {p.path for p in found}
    for lang in LANGUAGES:
        for topic in REQUIRED_TOPICS:
            path = directory / "answers" / lang / f"{topic}.md"
            if (lang, topic) not in seen and path not in broken:
                problems.append(
                    Problem(path, 1, f"required topic {topic!r} is missing in {lang!r}")
                )
    ids = {topic for _, topic in seen}
    for file in files:
        for target in file.meta["related"]:
            if target not in ids:
                problems.append(
                    Problem(
                        file.path, file.line_of("related"), f"related id {target!r} does not exist"
                    )
                )
    return problems


def check_content(directory: Path) -> list[Problem]:
    """Return every problem in the content folder, sorted by file and line."""
    problems, _, files, _ = _read(directory)
    return sorted(problems + _coverage(files, problems, directory) + check_tips(directory))


def load_content(directory: Path) -> ContentStore:
    """Load the content folder; raise ValueError naming the first problem if any."""
    problems, clinic, files, messages = _read(directory)
    problems = sorted(problems + _coverage(files, problems, directory))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(f"{problems[0]}{more}; run `clinicbot content check`")
    return build_store(clinic, files, messages)
