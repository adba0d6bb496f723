"""Talk to the bot as a patient in the terminal: the same core, no tokens, no network."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from bot.clock import Clock
from handlers.conversation import Conversation
from handlers.messages import Channel, InboundMessage, OutboundMessage, QuickReply

__all__ = ["TerminalChat", "render"]

QUIT = frozenset({"/quit", "/exit"})
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def render(reply: OutboundMessage) -> str:
    """Render a reply for a terminal: Markdown bold dropped, quick replies numbered."""
    lines = [_BOLD.sub(r"\1", reply.text)]
    if reply.options:
        lines.append("")
        lines += [f"  {i}. {option.label}" for i, option in enumerate(reply.options, 1)]
        lines.append("  (type a number to choose)")
    return "\n".join(lines)


class TerminalChat:
    """A read-reply loop over stdin and stdout; `/quit` or end of input leaves."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        clock: Clock,
        address: str = "cli:local",
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
    ) -> None:
        self._conversation = conversation
        self._clock = clock
        self._address = address
        self._read = read
        self._write = write
        self._options: tuple[QuickReply, ...] = ()

    async def run(self) -> None:
        """Chat until the patient types /quit or input ends."""
        self._write("Chatting with clinicbot as a patient. Type /quit to leave.\n")
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
            for reply in await self._conversation.handle(self._inbound(line)):
                self._options = reply.options
                self._write(f"bot> {render(reply)}\n")

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
