"""What the core knows of each channel, in one place: address scheme and capabilities.

A channel's package translates; this table is what the core needs to decide how to talk to
it (buttons or words, a file or a note, plain SMS text) and which address scheme is its own.
A new channel adds one row here and its own package in `bot/channels/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.messages import Channel

__all__ = ["CHANNELS", "ChannelFacts", "channel_of_scheme", "facts_of", "scheme_of"]


@dataclass(frozen=True)
class ChannelFacts:
    """One channel's address scheme and what it can show."""

    channel: Channel
    scheme: str  # the URN scheme of its addresses: "telegram:<chat id>", "tel:<E.164>"
    buttons: bool  # shows quick replies as buttons or numbered choices
    attachments: bool  # can send a file (the patient's data export)
    plain_text: bool  # replies are the short plain `sms` variant (carrier rules apply)
    max_chars: int  # one message's limit before the channel splits it


CHANNELS: dict[Channel, ChannelFacts] = {
    Channel.TELEGRAM: ChannelFacts(
        Channel.TELEGRAM,
        "telegram",
        buttons=True,
        attachments=True,
        plain_text=False,
        max_chars=4096,
    ),
    Channel.SMS: ChannelFacts(
        Channel.SMS, "tel", buttons=False, attachments=False, plain_text=True, max_chars=1600
    ),
    Channel.WEB: ChannelFacts(
        Channel.WEB, "web", buttons=True, attachments=True, plain_text=False, max_chars=4000
    ),
    Channel.CLI: ChannelFacts(
        Channel.CLI, "cli", buttons=True, attachments=True, plain_text=False, max_chars=100_000
    ),
}
_BY_SCHEME = {facts.scheme: facts.channel for facts in CHANNELS.values()}


def facts_of(channel: Channel) -> ChannelFacts:
    """Return a channel's facts."""
    return CHANNELS[channel]


def scheme_of(channel: Channel) -> str:
    """Return the address scheme of a channel ("tel" for SMS)."""
    return CHANNELS[channel].scheme


def channel_of_scheme(scheme: str) -> Channel | None:
    """Return the channel whose addresses use `scheme`, or None for an unknown one."""
    return _BY_SCHEME.get(scheme)
