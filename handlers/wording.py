"""Turn a content message key into an outbound message, filling in values known at send time."""

from __future__ import annotations

from content.store import ContentStore
from handlers.messages import OutboundMessage, QuickReply, ReplyKind

__all__ = ["fill", "option", "say"]


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each `{name}` in a message with its value (clinic facts are filled at load)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def say(
    content: ContentStore,
    key: str,
    lang: str,
    *,
    options: tuple[QuickReply, ...] = (),
    kind: ReplyKind = ReplyKind.SYSTEM,
    **values: str,
) -> OutboundMessage:
    """Return the message `key` in `lang` with its values filled in and the given options."""
    message = content.message(key, lang)
    return OutboundMessage(
        text=fill(message.text, values),
        sms=fill(message.sms, values),
        kind=kind,
        lang=lang,
        options=options,
    )


def option(content: ContentStore, key: str, lang: str, payload: str, **values: str) -> QuickReply:
    """Return a quick reply labelled with the message `key`."""
    return QuickReply(fill(content.message(key, lang).text, values), payload)
