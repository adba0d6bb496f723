"""What the scheduler tests share: the clinic's zone, rules and tips, and a recording sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.channels.base import SendOutcome, SendStatus
from bot.settings import DEFAULT_CONTENT_DIR
from content.tips import load_tips
from handlers.messages import OutboundMessage
from scheduler.rules import load_nudge_rules

LA = ZoneInfo("America/Los_Angeles")
RULES = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
TIPS = load_tips(DEFAULT_CONTENT_DIR)


@dataclass
class FakeSender:
    """Records what it is asked to send; answers with a scripted outcome."""

    outcomes: list[SendOutcome] = field(default_factory=list)
    sent: list[tuple[str, OutboundMessage]] = field(default_factory=list)

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        self.sent.append((urn, message))
        if self.outcomes:
            return self.outcomes.pop(0)
        return SendOutcome(SendStatus.SENT, external_id=f"m{len(self.sent)}")
