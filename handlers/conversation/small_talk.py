"""Small talk: greetings, thanks and a bare "help", answered without searching the FAQ.

A message made only of small-talk words ("hola buenas", "ok thanks") is small talk by its
words; any other short one is when the intent classifier's examples say so ("heyyy", "Le
agradezco mucho"), with the same margin over questions as every other guess.
"""

from __future__ import annotations

from content.text import fold
from handlers.conversation.intent_classifier import Guess
from handlers.messages import ReplyKind

__all__ = ["SMALL_TALK_LEAD", "small_talk"]

_GREETING = frozenset(
    "hi hello hey hiya howdy yo hola buenas buenos buen dia dias tardes noches good morning "
    "afternoon evening there start saludos que tal ola".split()
)
_HELP = frozenset("help ayuda menu info informacion options opciones".split())
_THANKS = frozenset(
    "thanks thank you thx ty tysm so much many gracias muchas mil ok okay great perfect "
    "perfecto vale cool awesome got it bye goodbye adios chao chau hasta luego nos vemos bueno "
    "listo entendido dale oki okey k sounds good appreciated".split()
)
_FILLER = frozenset("bot please pls por favor me i need necesito".split())
_GUESSED = {"greeting": ReplyKind.GREETING, "thanks": ReplyKind.THANKS}
# A wrong "you're welcome" swallows a question ("translate good morning to french"), so a
# guessed one needs a clearer lead than a guessed request, which is a menu or a screen.
SMALL_TALK_LEAD = 0.2


def small_talk(text: str, guess: Guess | None = None) -> ReplyKind | None:
    """Return the small-talk kind of a message (its words first, then the guess), or None."""
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
    if guess is None or guess.lead < SMALL_TALK_LEAD:
        return None
    return _GUESSED.get(guess.label)
