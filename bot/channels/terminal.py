"""Talk to the bot as a patient in the terminal: the same pipeline, no tokens, no network.

Every patient flow works here as on Telegram: slash commands (/start, /reminders, /stop ...)
and plain words go to the one inbound pipeline; buttons are shown as numbered choices and a
number picks one; a data export is saved as a file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from bot.clock import Clock
from handlers.conversation.pipeline import Pipeline
from handlers.messages import Channel, InboundMessage, OutboundMessage, QuickReply

__all__ = ["GREETING", "TerminalChat", "render"]

QUIT = frozenset({"/quit", "/exit"})
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CHOOSE = {"en": "(type a number to choose)", "es": "(escriba un número para elegir)"}
GREETING = """\
Chatting with clinicbot as a patient: the clinic's assistant, not a clinician.
Ask a question in English or Spanish, for example:
  - Does acupuncture hurt?
  - How long do cupping marks last?
  - ¿Aceptan seguro médico?
/start sets up reminders, /help lists what else it does, /quit (or Ctrl-C) leaves.
"""


def render(reply: OutboundMessage) -> str:
    """Render a reply for a terminal: Markdown bold dropped, quick replies numbered."""
    lines = [_BOLD.sub(r"\1", reply.text)]
    if reply.options:
        lines.append("")
        lines += [f"  {i}. {option.label}" for i, option in enumerate(reply.options, 1)]
        lines.append(f"  {_CHOOSE.get(reply.lang, _CHOOSE['en'])}")
    return "\n".join(lines)


class TerminalChat:
    """A read-reply loop over stdin and stdout; `/quit`, Ctrl-C or end of input leaves."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        clock: Clock,
        address: str = "cli:local",
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
        downloads: Path | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._address = address
        self._read = read
        self._write = write
        self._downloads = downloads or Path.cwd()
        self._options: tuple[QuickReply, ...] = ()

    async def run(self) -> None:
        """Chat until the patient types /quit, presses Ctrl-C or input ends."""
        self._write(GREETING)
        while True:
            try:
                line = await asyncio.to_thread(self._read, "you> ")
            except (EOFError, KeyboardInterrupt):
                self._write("")
                return
            line = line.strip()
            if line.lower() in QUIT:
                return
            if not line:
                continue
            for reply in await self._pipeline.handle(self._inbound(line)):
                self._show(reply)

    def _show(self, reply: OutboundMessage) -> None:
        if reply.options:
            self._options = reply.options
        text = render(reply)
        if reply.attachment is not None:
            path = self._downloads / reply.attachment.filename
            path.write_bytes(reply.attachment.data)
            text = f"{text}\n(saved to {path})"
        self._write(f"bot> {text}\n")

    def _inbound(self, line: str) -> InboundMessage:
        payload = None
        if line.isdigit() and 1 <= int(line) <= len(self._options):
            payload = self._options[int(line) - 1].payload
        return InboundMessage(
            address=self._address,
            channel=Channel.CLI,
            text=None if payload else line,
            received_at=self._clock(),
            payload=payload,
        )
