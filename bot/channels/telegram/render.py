"""Render neutral replies for Telegram: HTML text, keyboards, and splits below 4,096 chars."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from handlers.conversation.onboarding import REQUEST_CONTACT
from handlers.messages import OutboundMessage

__all__ = [
    "MAX_CALLBACK_BYTES",
    "MAX_CHARS",
    "Markup",
    "Rendered",
    "render",
    "split_text",
    "to_html",
]

MAX_CHARS = 4096
MAX_CALLBACK_BYTES = 64
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Rendered:
    """One Telegram message: HTML text and the keyboard attached to it, if any."""

    text: str
    markup: Markup | None = None


def to_html(markdown: str) -> str:
    """Turn the content's small Markdown (bold, links) into Telegram HTML."""
    text = html.escape(markdown, quote=False)
    text = _BOLD.sub(r"<b>\1</b>", text)
    return _LINK.sub(lambda m: f'<a href="{html.escape(m[2])}">{m[1]}</a>', text)


def _pieces(markdown: str, limit: int) -> list[str]:
    if len(to_html(markdown)) <= limit:
        return [markdown]
    for separator in ("\n\n", "\n", " "):
        parts = markdown.split(separator)
        if len(parts) > 1:
            break
    else:  # one enormous word: cut it, escaping only, so no tag is split
        return [markdown[i : i + limit // 6] for i in range(0, len(markdown), limit // 6)]
    chunks: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{separator}{part}" if current else part
        if len(to_html(candidate)) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        if len(to_html(part)) <= limit:
            current = part
        else:
            chunks.extend(_pieces(part, limit))
            current = ""
    if current:
        chunks.append(current)
    return chunks


def split_text(markdown: str, limit: int = MAX_CHARS) -> list[str]:
    """Split Markdown at paragraphs, then lines, then words, so each part's HTML fits."""
    return [to_html(piece) for piece in _pieces(markdown, limit) if piece.strip()]


def _markup(message: OutboundMessage, remove_keyboard: bool) -> Markup | None:
    if not message.options:
        return ReplyKeyboardRemove() if remove_keyboard else None
    if any(option.payload == REQUEST_CONTACT for option in message.options):
        # Telegram asks for a phone number only from a reply keyboard; the other options
        # come back as their label's text.
        rows = [
            [KeyboardButton(option.label, request_contact=option.payload == REQUEST_CONTACT)]
            for option in message.options
        ]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    buttons = [
        [InlineKeyboardButton(option.label[:64], callback_data=option.payload)]
        for option in message.options
        if len(option.payload.encode()) <= MAX_CALLBACK_BYTES
    ]
    return InlineKeyboardMarkup(buttons)


def render(message: OutboundMessage, *, remove_keyboard: bool = False) -> list[Rendered]:
    """Render a reply as Telegram messages; the keyboard goes with the last part."""
    parts = split_text(message.text) or ["…"]
    markup = _markup(message, remove_keyboard)
    return [
        Rendered(part, markup if i == len(parts) - 1 else None) for i, part in enumerate(parts)
    ]
