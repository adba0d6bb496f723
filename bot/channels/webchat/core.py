"""The one place web chat calls the conversation core: swap the core here, nowhere else."""

from __future__ import annotations

from typing import Any

from handlers.conversation.pipeline import Pipeline
from handlers.messages import InboundMessage, OutboundMessage

__all__ = ["ask_core", "inbound_body", "reply_body"]


async def ask_core(pipeline: Pipeline, message: InboundMessage) -> list[OutboundMessage]:
    """Hand one visitor message to the inbound pipeline and return its replies."""
    return await pipeline.handle(message)


def inbound_body(text: str | None, payload: str | None) -> dict[str, Any]:
    """Return what the transcript keeps of a visitor's message."""
    return {"text": text or ""} if payload is None else {"text": text or "", "payload": payload}


def reply_body(reply: OutboundMessage) -> dict[str, Any]:
    """Return what the transcript keeps of a reply: the browser renders it from this."""
    return {
        "text": reply.text,
        "kind": str(reply.kind),
        "lang": reply.lang,
        "options": [{"label": o.label, "payload": o.payload} for o in reply.options],
    }
