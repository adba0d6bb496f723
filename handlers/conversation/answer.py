"""Answer one patient message: red-flag triage first, then small talk, then FAQ, then fallback."""

from __future__ import annotations

import re
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from content.check import load_content
from content.language import detect_language
from content.search import FaqIndex, Match, is_confident
from content.store import Answer, ContentStore, Message
from content.text import fold
from handlers.messages import QuickReply, ReplyKind
from handlers.triage import Category, RedFlag, RedFlagRules, load_red_flag_rules, triage

__all__ = [
    "HUMAN_PAYLOAD",
    "MORE_PREFIX",
    "NOT_TRIAGED",
    "TOPIC_PREFIX",
    "Answerer",
    "Reply",
    "Triaged",
]

HUMAN_PAYLOAD = "human"
TOPIC_PREFIX = "topic:"  # a topic's short answer, with "More"
MORE_PREFIX = "more:"  # a topic's full answer
MAX_FAQ_CHARS = 1000
FALLBACK_TOPIC_FLOOR = 0.1
# A second suggestion is offered only when it is nearly as close as the first.
SECOND_TOPIC_SHARE = 0.75
MAX_SUGGESTIONS = 2
MIN_ANCHOR = 0.5  # keyness (log10 domain over general frequency) of a shared clinic word
# A message made only of these words is small talk, answered without searching.
_GREETING = frozenset(
    "hi hello hey hiya howdy yo hola buenas buenos buen dia dias tardes noches good morning "
    "afternoon evening there start saludos que tal ola".split()
)
_HELP = frozenset("help ayuda menu info informacion options opciones".split())
_THANKS = frozenset(
    "thanks thank you thx ty tysm so much many gracias muchas mil ok okay great perfect "
    "perfecto vale cool awesome got it".split()
)
_FILLER = frozenset("bot please pls por favor me i need necesito".split())
# Where a second question starts: after a question mark, or at "and"/"y" (or "also", "plus")
# followed by a question word. "how much is it and do you take insurance" is two questions.
_QUESTION_WORDS = (
    "how|what|whats|when|where|who|why|which|do|does|did|can|could|is|are|will|would|should|"
    "r|u|any|cuanto|cuanta|cuantos|cuantas|como|que|cuando|donde|quien|hay|se|puedo|puede|es|"
    "tienen|aceptan|cubre|sirve|duele"
)
_SECOND_QUESTION = re.compile(
    rf"\?+\s+|\s(?:and also|and|also|plus|y tambien|y también|y|tambien|también)\s+"
    rf"(?=(?:{_QUESTION_WORDS})\b)",
    re.IGNORECASE,
)
MIN_QUESTION_WORDS = 2
NEAR_TIE = 0.03  # a runner-up this close to the best match is offered beside it


class _NotTriaged:
    """The message has not been triaged yet: `answer` triages it."""


NOT_TRIAGED = _NotTriaged()
Triaged = RedFlag | None | _NotTriaged


@dataclass(frozen=True)
class Reply:
    """The core's answer to one message, before any channel renders it."""

    kind: ReplyKind
    lang: str
    text: str
    sms: str
    topic: str | None = None
    category: str | None = None
    rule: str | None = None
    score: float = 0.0
    options: tuple[QuickReply, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """Return the evaluation contract's JSON object for this reply."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["score"] = round(self.score, 4)
        data["options"] = [option.payload for option in self.options]
        return data


def _small_talk(text: str) -> ReplyKind | None:
    words = set(fold(text).split()) - _FILLER
    if not words:
        return None
    for kind, vocabulary in (
        (ReplyKind.GREETING, _GREETING),
        (ReplyKind.HELP, _HELP),
        (ReplyKind.THANKS, _THANKS),
    ):
        if words <= vocabulary:
            return kind
    return None


class Answerer:
    """Decide the reply to a message from the clinic's content; no side effects."""

    def __init__(self, content: ContentStore, rules: RedFlagRules) -> None:
        self.content = content
        self.rules = rules
        self._indexes = {
            lang: FaqIndex(answers.values(), lang) for lang, answers in content.answers.items()
        }

    @classmethod
    def from_directory(cls, directory: Path) -> Answerer:
        """Load content and red-flag rules from a content folder (ValueError if broken)."""
        return cls(load_content(directory), load_red_flag_rules(directory / "red_flags.yaml"))

    def answer(
        self,
        text: str,
        lang: str | None = None,
        misses: int = 0,
        flag: Triaged = NOT_TRIAGED,
    ) -> Reply:
        """Reply to one message in the patient's language, or the one the message is in.

        `misses` is how many messages in a row before this one fell back: from the second miss
        in a row the fallback offers a human first. It also varies the fallback's wording.
        A caller that has triaged the message already passes the result as `flag`.
        """
        lang = lang if lang in self._indexes else detect_language(text)
        if isinstance(flag, _NotTriaged):
            flag = triage(text, self.rules)
        if flag is not None and flag.category is not Category.CHECK:
            message = self.content.message(flag.message_key, lang)
            return Reply(
                ReplyKind.RED_FLAG,
                lang,
                message.text,
                message.sms,
                category=str(flag.category),
                rule=flag.rule,
                score=1.0,
            )
        reply = self._answer(text, lang, misses)
        if flag is None:
            return reply
        # The safety net: a symptom that is happening now but meets no red-flag rule gets a
        # careful word first, then the closest answer; never an unrelated answer alone.
        check = self.content.message(flag.message_key, lang)
        return replace(
            reply,
            text=f"{check.text}\n\n{reply.text}",
            sms=f"{check.sms} {reply.sms}" if reply.kind is ReplyKind.FAQ else check.sms,
            category=str(flag.category),
            rule=flag.rule,
        )

    def _answer(self, text: str, lang: str, misses: int) -> Reply:
        kind = _small_talk(text)
        if kind is not None:
            message = self.content.message(str(kind), lang)
            return Reply(kind, lang, message.text, message.sms, score=1.0)
        text = text[:MAX_FAQ_CHARS]
        two = self._two_questions(text, lang)
        if two is not None:
            return two
        matches = self._search(text, lang)
        if matches and is_confident(matches[0]):
            best = matches[0]
            # A runner-up nearly as close is offered beside "More": a near miss is one tap away.
            runner = next((m for m in matches[1:2] if is_confident(m)), None)
            close = runner.topic if runner and best.score - runner.score < NEAR_TIE else None
            found = self._offering(best.topic, close, lang)
            if found is not None:
                return replace(found, score=best.score)
        return self._fallback(matches, lang, misses, fold(text))

    def _two_questions(self, text: str, lang: str) -> Reply | None:
        """Answer the first of two questions in one message, and offer the second's topic."""
        parts = _SECOND_QUESTION.split(text, maxsplit=1)
        if len(parts) != 2 or any(len(part.split()) < MIN_QUESTION_WORDS for part in parts):
            return None
        first = self._search(parts[0], lang)
        if not first or not is_confident(first[0]):
            return None
        second = self._search(parts[1], lang)
        other = second[0].topic if second and is_confident(second[0]) else None
        reply = self._offering(first[0].topic, other, lang)
        return replace(reply, score=first[0].score) if reply is not None else None

    def _offering(self, topic: str, other: str | None, lang: str) -> Reply | None:
        """Return a topic's short answer, offering another topic right after "More"."""
        reply = self.topic(topic, lang)
        found = self.content.answer(other, lang) if other and other != topic else None
        if reply is None or found is None:
            return reply
        offer = QuickReply(found.title, TOPIC_PREFIX + found.id)
        more, *rest = reply.options
        rest = [option for option in rest if option.payload != offer.payload]
        return replace(reply, options=(more, offer, *rest))

    def topic(self, topic: str, lang: str) -> Reply | None:
        """Return a topic's short answer, with "More", related topics and a human as options."""
        answer = self.content.answer(topic, lang)
        if answer is None:
            return None
        more = QuickReply(self.content.message("more", lang).text, MORE_PREFIX + topic)
        text = f"**{answer.title}**\n\n{answer.short or answer.body}"
        options = (
            (more, *self._related(answer, lang)) if answer.short else self._related(answer, lang)
        )
        return Reply(ReplyKind.FAQ, lang, text, answer.sms, topic=topic, options=options)

    def more(self, topic: str, lang: str) -> Reply | None:
        """Return a topic's full answer, with related topics and a human as options."""
        answer = self.content.answer(topic, lang)
        if answer is None:
            return None
        text = f"**{answer.title}**\n\n{answer.body}"
        options = self._related(answer, lang)
        return Reply(ReplyKind.FAQ, lang, text, answer.sms, topic=topic, options=options)

    def _related(self, answer: Answer, lang: str) -> tuple[QuickReply, ...]:
        options = [
            QuickReply(related.title, TOPIC_PREFIX + related.id)
            for related in (self.content.answer(r, lang) for r in answer.related)
            if related is not None
        ]
        return (*options, self._human_option(lang))

    def _search(self, text: str, lang: str) -> list[Match]:
        index = self._indexes.get(lang) or self._indexes["en"]
        matches = index.search(text)
        if matches and is_confident(matches[0]):
            return matches
        # Mixed-language messages: a confident match in the other language still answers,
        # in the patient's language.
        for other_lang, other in self._indexes.items():
            if other_lang != index.lang:
                others = other.search(text)
                if others and is_confident(others[0]):
                    return others
        return matches

    def _human_option(self, lang: str) -> QuickReply:
        return QuickReply(self.content.message("talk_to_staff", lang).text, HUMAN_PAYLOAD)

    def _fallback(self, matches: list[Match], lang: str, misses: int, folded: str) -> Reply:
        close = [
            a
            for a in (self.content.answer(t, lang) for t in _close_topics(matches))
            if a is not None
        ]
        topics = tuple(QuickReply(a.title, TOPIC_PREFIX + a.id) for a in close)
        human = self._human_option(lang)
        if misses >= 1:  # the second miss in a row: a person first, then the closest topics
            base, options = "fallback_human", (human, *topics)
        else:
            base = "fallback_with_topics" if close else "fallback"
            options = (*topics, human)
        # The wording varies with the miss count and the message, never at random: the same
        # message gets the same reply, and a patient who rephrases sees a different sentence.
        message = self._variant(base, lang, misses + zlib.crc32(folded.encode()))
        return Reply(
            ReplyKind.FALLBACK,
            lang,
            message.text,
            message.sms,
            score=matches[0].score if matches else 0.0,
            options=options,
        )

    def _variant(self, base: str, lang: str, seed: int) -> Message:
        keys = [base]
        while f"{base}_{len(keys) + 1}" in self.content.messages.get("en", {}):
            keys.append(f"{base}_{len(keys) + 1}")
        return self.content.message(keys[seed % len(keys)], lang)


def _close_topics(matches: list[Match]) -> list[str]:
    """Return at most two topics close enough to the message to be worth offering.

    Only topics sharing a clinic-specific word with the message qualify ("what's the weather
    tomorrow" gets none), and a second one only when it is nearly as close as the first.
    """
    found = [m for m in matches if m.score >= FALLBACK_TOPIC_FLOOR and m.anchor >= MIN_ANCHOR]
    if not found:
        return []
    floor = found[0].score * SECOND_TOPIC_SHARE
    return [found[0].topic] + [m.topic for m in found[1:MAX_SUGGESTIONS] if m.score >= floor]
