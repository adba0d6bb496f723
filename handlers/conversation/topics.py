"""Browse the clinic's answers page by page: titles as options, with previous and next."""

from __future__ import annotations

from content.store import ContentStore
from handlers.messages import OutboundMessage, QuickReply
from handlers.wording import option, say

__all__ = ["PAGE_SIZE", "PREFIX", "TOPIC_PICK", "page", "parse"]

PREFIX = "browse:"
TOPIC_PICK = "browse:t:"  # browse:t:<topic>:<page>, so "back" returns to the same page
PAGE_SIZE = 8


def _titles(content: ContentStore, lang: str) -> list[tuple[str, str]]:
    topics = sorted(content.answers.get("en", {}))
    found = [(topic, content.answer(topic, lang)) for topic in topics]
    return sorted(((a.title, topic) for topic, a in found if a is not None), key=lambda t: t[0])


def page(content: ContentStore, lang: str, number: int) -> OutboundMessage | None:
    """Return one page of topic titles; None if the page does not exist."""
    titles = _titles(content, lang)
    pages = max(1, -(-len(titles) // PAGE_SIZE))
    if not 1 <= number <= pages:
        return None
    chunk = titles[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    options = [QuickReply(title, f"{TOPIC_PICK}{topic}:{number}") for title, topic in chunk]
    if number > 1:
        options.append(option(content, "option_previous", lang, f"{PREFIX}{number - 1}"))
    if number < pages:
        options.append(option(content, "option_next", lang, f"{PREFIX}{number + 1}"))
    return say(
        content, "topics_browse", lang, options=tuple(options), page=str(number), pages=str(pages)
    )


def parse(payload: str) -> tuple[str | None, int] | None:
    """Read a browse payload as (topic or None for a page, page number); None if malformed."""
    if payload.startswith(TOPIC_PICK):
        topic, _, number = payload.removeprefix(TOPIC_PICK).rpartition(":")
        return (topic, int(number)) if topic and number.isdigit() else None
    number = payload.removeprefix(PREFIX)
    return (None, int(number)) if number.isdigit() else None
