"""Channels translate between a messaging service and the channel-neutral handlers."""
