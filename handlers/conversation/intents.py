"""What a patient asks the bot to do, however they say it: a command, a keyword or plain words.

Telegram commands, the terminal's slash commands, SMS keywords (STOP, START, YES, HELP, MORE)
and plain sentences in English or Spanish ("can I talk to a real person", "en español por
favor", "are you a bot?") all map to the same intents, which the pipeline acts on once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from content.text import fold
from handlers.conversation.handoff import wants_human
from handlers.conversation.opt_out_words import OptOut, opt_out_request
from handlers.conversation.sms_keywords import Keyword, classify, keyword_language

__all__ = ["Intent", "IntentMatch", "command_intent", "intent_of"]


class Intent(StrEnum):
    """Something the patient asks the bot to do rather than a question to answer."""

    START = "start"  # begin, resume onboarding, or come back after a stop
    STOP = "stop"  # no more automated messages
    HOW_TO_STOP = "how_to_stop"  # asks how to stop, without clearly asking to
    YES = "yes"  # a bare yes: consent, or confirming an appointment
    HELP = "help"  # what the bot does
    HUMAN = "human"  # a person, please
    LANGUAGE = "language"  # switch language (value: the code) or choose one (no value)
    REMINDERS = "reminders"  # see or change between-visit tips
    TOPICS = "topics"  # browse what the bot can answer
    APPOINTMENTS = "appointments"  # see and confirm appointments
    MY_DATA = "mydata"  # a copy of what the clinic holds
    FORGET = "forget"  # erase what the clinic holds
    MENU = "menu"
    BOT = "bot"  # "am I talking to a robot?"
    MORE = "more"  # the full answer to the last question


@dataclass(frozen=True)
class IntentMatch:
    """An intent, its value (a language code), and the language the words were in."""

    intent: Intent
    value: str | None = None
    lang: str | None = None
    keyword: bool = False  # a one-word keyword or command, which says little of the language


_COMMANDS = {
    "start": Intent.START,
    "stop": Intent.STOP,
    "help": Intent.HELP,
    "ayuda": Intent.HELP,
    "human": Intent.HUMAN,
    "language": Intent.LANGUAGE,
    "idioma": Intent.LANGUAGE,
    "reminders": Intent.REMINDERS,
    "tips": Intent.REMINDERS,
    "topics": Intent.TOPICS,
    "appointments": Intent.APPOINTMENTS,
    "mydata": Intent.MY_DATA,
    "forget": Intent.FORGET,
    "menu": Intent.MENU,
    "more": Intent.MORE,
}
_MORE_WORDS = frozenset({"more", "mas", "more please", "mas por favor", "tell me more"})

# Plain words, matched on folded text (lower case, no accents or punctuation).
_PERSON = (
    r"(?:a |an |to a |with a )?(?:real |actual |live )?"
    r"(?:person|human|someone|somebody|staff|receptionist|front desk|agent|people)"
)
_HUMAN_EN = re.compile(
    rf"\b(?:talk|speak|chat) (?:to|with) {_PERSON}\b|\breal (?:person|human)\b|"
    r"\b(?:can|could|may) i (?:call|phone) (?:you|someone|the clinic)\b|"
    r"\b(?:get|give) me (?:a|an) (?:person|human|agent)\b|\bcall me back\b|"
    r"\b(?:can|could|would) (?:someone|somebody|anyone|a person|staff) (?:\w+ ){0,3}"
    r"(?:call|phone|ring|text) me\b|^(?:operator|receptionist|front desk|agent)(?: please| pls)?$"
)
_HUMAN_ES = re.compile(
    r"\b(?:hablar|comunicarme|platicar|pasame|paseme|comuniqueme|comunicame|conecteme|"
    r"conectame) con (?:una |un |el |la |alguien|alguna )?(?:persona|humano|alguien|recepcion|"
    r"recepcionista|agente|personal|doctor|doctora)\b|\bpersona real\b|\bun humano\b|"
    r"\b(?:me (?:puede|pueden|podria|podrian)|puede|pueden) (?:\w+ )?(?:llamar|marcar)(?:me)?\b|"
    r"\bllamenme\b|\bllameme\b"
)
_BOT = re.compile(
    r"^(?:(?:hi|hello|hey|hola) )?(?:are|r) (?:you|u) (?:a |an )?(?:real |actual )?"
    r"(?:bot|robot|ai|human|person|machine|computer|real|chatgpt|automated)\b|"
    r"\bis this (?:automated|an? (?:automated|auto) (?:reply|message|system))\b|"
    r"\b(?:persona|humano) o (?:una |un |con una |con un )?(?:maquina|robot|bot)\b|"
    r"^(?:esto |este )?es (?:una |un )?(?:inteligencia artificial|ia|chatbot)\b|"
    r"\b(?:is this|am i (?:talking|chatting|texting) (?:to|with)) (?:a |an )?(?:bot|robot|ai|"
    r"real person|human|machine|computer)\b|"
    r"^(?:(?:hola) )?(?:eres|es|sos|usted es) (?:un |una )?(?:bot|robot|maquina|persona|humano|"
    r"humana|ia|inteligencia artificial)\b|\bestoy hablando con (?:un |una )?(?:bot|robot|maquina|"
    r"persona)\b"
)
_HELP = re.compile(
    r"^(?:so |ok |okay )?what (?:can|do) (?:you|u) do\b|^what can i ask\b|^how does this work\b|"
    r"^what (?:kind of |kinds of |sort of )?(?:questions|things) (?:can|do) (?:you|u|i) "
    r"(?:answer|help|ask)\b|"
    r"^que (?:puedes|puede|sabes) hacer\b|^en que (?:me )?(?:puedes|puede) ayudar\b|"
    r"^que puedo preguntar\b"
)
_MENU = frozenset({"menu", "options", "opciones", "main menu", "menu principal"})
_LANG_ANYWHERE = re.compile(
    r"\b(?:this|it|talk|speak|reply|answer|respond|write|text|chat) in (spanish|english)\b|"
    r"\b(?:contestar|contestarme|responder|responderme|escribir|escribirme|hablar|hablan|"
    r"habla|hablarme) (?:en )?(ingles|espanol)\b"
)
# "español", "in english please", "habla inglés?", "can we speak spanish"
_LANG_WORDS = {
    "es": r"(?:spanish|espanol|castellano)",
    "en": r"(?:english|ingles)",
}
_LANG_ASK = (
    r"^(?:(?:can|could) (?:you|we|u) )?(?:(?:please|pls) )?(?:(?:and|y|pero|but|ok|okay) )?"
    r"(?:(?:in|en|speak|talk|write|reply|answer|respond|switch to|change to|habla|hablas|"
    r"hable|hablame|escribe|escribeme|cambia a|cambiar a|do you speak|do u speak|se habla|"
    r"puedes hablar|puede hablar|puedes escribir|se puede en) )*"
    r"{lang}(?: (?:please|pls|por favor|porfa|plz))?$"
)
_LANG_RE = {code: re.compile(_LANG_ASK.format(lang=word)) for code, word in _LANG_WORDS.items()}
_MAX_PLAIN_WORDS = 12  # a long message is a question or a story, not a request to the bot


def command_intent(text: str) -> IntentMatch | None:
    """Return the intent of a slash command ("/stop", "/start@clinic_bot"); HELP if unknown."""
    if not text.startswith("/"):
        return None
    name = text[1:].split(maxsplit=1)[0].split("@")[0].casefold() if text[1:].strip() else ""
    return IntentMatch(_COMMANDS.get(name, Intent.HELP), keyword=True)


def _keyword(text: str) -> IntentMatch | None:
    keyword = classify(text)
    if keyword is None:
        return None
    lang = keyword_language(text)
    intent = {
        Keyword.STOP: Intent.STOP,
        Keyword.START: Intent.START,
        Keyword.YES: Intent.YES,
        Keyword.HELP: Intent.HELP,
    }[keyword]
    return IntentMatch(intent, lang=lang, keyword=True)


def _plain(folded: str) -> IntentMatch | None:
    if folded in _MORE_WORDS:
        return IntentMatch(Intent.MORE, lang="es" if folded.startswith("mas") else "en")
    if len(folded.split()) > _MAX_PLAIN_WORDS:
        return None
    if folded in _MENU:
        spanish = folded.startswith(("opc", "menu p"))
        return IntentMatch(Intent.MENU, lang="es" if spanish else None)
    for code, pattern in _LANG_RE.items():
        if pattern.match(folded):
            return IntentMatch(Intent.LANGUAGE, value=code)
    asked = _LANG_ANYWHERE.search(folded)
    if asked is not None:
        word = asked.group(1) or asked.group(2)
        return IntentMatch(Intent.LANGUAGE, value="es" if word in {"spanish", "espanol"} else "en")
    if _BOT.search(folded):
        return IntentMatch(Intent.BOT, lang=_lang_of(folded))
    if wants_human(folded) or _HUMAN_EN.search(folded):
        return IntentMatch(Intent.HUMAN, lang="en")
    if _HUMAN_ES.search(folded):
        return IntentMatch(Intent.HUMAN, lang="es")
    if _HELP.search(folded):
        return IntentMatch(Intent.HELP, lang=_lang_of(folded))
    return None


def _lang_of(folded: str) -> str:
    spanish = {"eres", "es", "sos", "que", "puedes", "puede", "estoy", "hablando", "una", "un"}
    return "es" if spanish & set(folded.split()) else "en"


def intent_of(text: str | None) -> IntentMatch | None:
    """Return what a message asks the bot to do, or None when it is something to answer."""
    if text is None or not text.strip():
        return None
    stripped = text.strip()
    found = command_intent(stripped) or _keyword(stripped)
    if found is not None:
        return found
    request = opt_out_request(stripped)
    if request is not None:
        clear = request.kind is OptOut.CLEAR
        return IntentMatch(Intent.STOP if clear else Intent.HOW_TO_STOP, lang=request.lang)
    return _plain(fold(stripped))
