"""Errors a user can cause: each carries one line for the terminal and an exit code."""

from __future__ import annotations

__all__ = ["ClinicbotError", "ConfigError", "ContentError", "StorageError"]


class ClinicbotError(Exception):
    """An error with a one-line message for the user and a process exit code."""

    exit_code = 1


class ConfigError(ClinicbotError):
    """A setting is missing or invalid."""

    exit_code = 2


class StorageError(ClinicbotError):
    """The database cannot be reached, created or migrated."""


class ContentError(ClinicbotError):
    """The clinic's content files do not load."""
