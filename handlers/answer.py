"""Answer one patient message: red-flag triage first, then small talk, then FAQ, then fallback."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from content.check import load_content
from content.language import detect_language
from content.search import FaqIndex, Match, is_confident
from content.store import ContentStore
from content.text import fold
from handlers.messages import QuickReply, ReplyKind
from handlers.triage import Category, RedFlag, RedFlagRules, load_red_flag_rules, triage

__all__ = ["HUMAN_PAYLOAD", "NOT_TRIAGED", "TOPIC_PREFIX", "Answerer", "Reply", "Triaged"]

HUMAN_PAYLOAD = "human"
TOPIC_PREFIX = "topic:"
MAX_FAQ_CHARS = 1000
FALLBACK_TOPIC_FLOOR = 0.1
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

    def answer(self, text: str, lang: str | None = None, flag: Triaged = NOT_TRIAGED) -> Reply:
        """Reply to one message in the patient's language, or the one the message is in.

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
        reply = self._answer(text, lang)
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

    def _answer(self, text: str, lang: str) -> Reply:
        kind = _small_talk(text)
        if kind is not None:
            message = self.content.message(str(kind), lang)
            return Reply(kind, lang, message.text, message.sms, score=1.0)
        matches = self._search(text[:MAX_FAQ_CHARS], lang)
        if matches and is_confident(matches[0]):
            best = matches[0]
            found = self.topic(best.topic, lang)
            if found is not None:
                return replace(found, score=best.score)
        return self._fallback(matches, lang)

    def topic(self, topic: str, lang: str) -> Reply | None:
        """Return the answer for one topic, with related topics and a human as options."""
        answer = self.content.answer(topic, lang)
        if answer is None:
            return None
        options = [
            QuickReply(related.title, TOPIC_PREFIX + related.id)
            for related in (self.content.answer(r, lang) for r in answer.related)
            if related is not None
        ]
        options.append(self._human_option(lang))
        text = f"**{answer.title}**\n\n{answer.body}"
        return Reply(ReplyKind.FAQ, lang, text, answer.sms, topic=topic, options=tuple(options))

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

    def _fallback(self, matches: list[Match], lang: str) -> Reply:
        # Suggest topics only when the message shares a clinic-specific word with them: "what's
        # the weather tomorrow" gets the plain fallback, not three unrelated topics.
        suggest = [
            m.topic for m in matches if m.score >= FALLBACK_TOPIC_FLOOR and m.anchor >= MIN_ANCHOR
        ]
        close = [a for a in (self.content.answer(t, lang) for t in suggest) if a is not None]
        message = self.content.message("fallback_with_topics" if close else "fallback", lang)
        options = tuple(QuickReply(a.title, TOPIC_PREFIX + a.id) for a in close)
        return Reply(
            ReplyKind.FALLBACK,
            lang,
            message.text,
            message.sms,
            score=matches[0].score if matches else 0.0,
            options=(*options, self._human_option(lang)),
        )
