"""Staff commands declared once, for every front end: the staff group, private chats, the CLI.

Each command has a name, the role it needs, its arguments and an async function returning
text (and any effect to run after the commit, such as telling a patient their ticket is
closed). Front ends only translate: words or click options in, `StaffResult.text` out.

    result = await run_staff_command(
        session, "close", {"ticket": "12"}, actor="staff:42", env=env, now=now
    )

The role is read from the database on every call unless the caller passes it (the CLI is
the server's operator: admin). Each action audits itself, as the functions it calls do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import StaffRole
from content.store import ContentStore
from handlers.messages import OutboundMessage
from handlers.staff.roles import staff_role
from scheduler.rules import load_nudge_rules

__all__ = [
    "CLI_ACTOR",
    "COMMANDS",
    "Arg",
    "PatientNotice",
    "StaffCall",
    "StaffCommand",
    "StaffEnv",
    "StaffError",
    "StaffResult",
    "actor_role",
    "command",
    "confirm_rules_in",
    "parse_words",
    "run_staff_command",
]

CLI_ACTOR = "cli"


class StaffError(ValueError):
    """A command that cannot be done as asked; the message is one line for staff."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class StaffEnv:
    """What commands read besides the database: the content, clinic zone, confirm rules."""

    content: ContentStore
    clinic_zone: ZoneInfo
    confirm_rules: tuple[str, ...] = ("before_48h",)


@dataclass(frozen=True)
class PatientNotice:
    """A message for a patient, sent by the front end after the commit on their channel."""

    urn: str
    message: OutboundMessage


@dataclass(frozen=True)
class StaffResult:
    """What a command answers: text for staff, an exit code, and after-commit effects.

    `exit_code` is the CLI's: 0 done, 1 nothing to do (e.g. not staff), 2 a usage error.
    `data` is the same answer as values, for a console that draws its own page.
    """

    text: str
    exit_code: int = 0
    notices: tuple[PatientNotice, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Say whether the command did what was asked."""
        return self.exit_code == 0


@dataclass(frozen=True)
class Arg:
    """One argument: its name, how it is read from text, and whether it may be left out."""

    name: str
    parse: Callable[[str], Any] = str
    required: bool = True
    default: Any = None
    rest: bool = False  # in chat, takes the rest of the line (a text with spaces)


@dataclass(frozen=True)
class StaffCall:
    """One run of a command: the parsed arguments and who runs it."""

    session: AsyncSession
    args: Mapping[str, Any]
    actor: str
    actor_name: str
    role: StaffRole
    now: datetime
    env: StaffEnv


@dataclass(frozen=True)
class StaffCommand:
    """A staff command as declared once."""

    name: str
    role: StaffRole
    args: tuple[Arg, ...]
    run: Callable[[StaffCall], Awaitable[StaffResult]]
    summary: str


COMMANDS: dict[str, StaffCommand] = {}


def command(
    name: str, role: StaffRole, *args: Arg
) -> Callable[[Callable[[StaffCall], Awaitable[StaffResult]]], StaffCommand]:
    """Declare a command (a decorator); its docstring is its one-line summary."""

    def register(run: Callable[[StaffCall], Awaitable[StaffResult]]) -> StaffCommand:
        declared = StaffCommand(name, role, tuple(args), run, (run.__doc__ or "").strip())
        COMMANDS[name] = declared
        return declared

    return register


def confirm_rules_in(path: Path) -> tuple[str, ...]:
    """Return the ids of the nudge rules in `path` that ask the patient to confirm (stats)."""
    try:
        rules = load_nudge_rules(path)
    except (ValueError, OSError):
        return ()  # the scheduler reports broken rules; stats then show no confirmations
    return tuple(rule.id for rule in rules if rule.ask == "confirm")


def _allows(role: StaffRole, needed: StaffRole) -> bool:
    return role == StaffRole.ADMIN or needed == StaffRole.STAFF


async def actor_role(session: AsyncSession, actor: str) -> StaffRole | None:
    """Read the actor's role now: "cli" is the operator (admin), "staff:<id>" from the table."""
    if actor == CLI_ACTOR:
        return StaffRole.ADMIN
    kind, _, ident = actor.partition(":")
    if kind != "staff" or not ident.isdigit():
        return None
    return await staff_role(session, int(ident))


def parse_words(name: str, text: str) -> dict[str, str]:
    """Map a chat line's words to a command's arguments, in declared order."""
    found = COMMANDS.get(name)
    if found is None:
        return {}
    words, values = text.split(), {}
    for index, arg in enumerate(found.args):
        if index >= len(words):
            break
        values[arg.name] = " ".join(words[index:]) if arg.rest else words[index]
    return values


def _parsed(declared: StaffCommand, args: Mapping[str, str | None]) -> dict[str, Any]:
    unknown = set(args) - {arg.name for arg in declared.args}
    if unknown:
        raise StaffError(f"{declared.name}: unknown argument {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for arg in declared.args:
        raw = args.get(arg.name)
        if raw is None or raw == "":
            if arg.required:
                raise StaffError(f"{declared.name}: {arg.name} is required")
            values[arg.name] = arg.default
            continue
        try:
            values[arg.name] = arg.parse(raw)
        except (ValueError, TypeError):
            raise StaffError(f"{declared.name}: {arg.name} {raw[:40]!r} is not valid") from None
    return values


async def run_staff_command(
    session: AsyncSession,
    name: str,
    args: Mapping[str, str | None] | Sequence[str] = (),
    *,
    actor: str,
    env: StaffEnv,
    now: datetime,
    role: StaffRole | None = None,
    actor_name: str | None = None,
) -> StaffResult:
    """Run a staff command by name; a refusal is a result with a nonzero exit code.

    `args` are raw text by argument name (a form, click options) or a chat line's words.
    `actor_name` is how staff see the actor in notes ("Ticket #3 closed by Ana").
    Run inside the caller's transaction; send `notices` only after it commits.
    """
    declared = COMMANDS.get(name)
    if declared is None:
        return StaffResult(f"unknown staff command {name[:40]!r}", exit_code=2)
    if role is None:
        role = await actor_role(session, actor)
    if role is None or not _allows(role, declared.role):
        return StaffResult(f"{name} needs the {declared.role} role", exit_code=1)
    if not isinstance(args, Mapping):
        args = parse_words(name, " ".join(args))
    try:
        values = _parsed(declared, args)
        call = StaffCall(session, values, actor, actor_name or actor, role, now, env)
        async with session.begin_nested():  # a refusal half-way leaves nothing behind
            return await declared.run(call)
    except StaffError as error:
        return StaffResult(str(error), exit_code=error.exit_code)
    except _actions.USER_ERRORS as error:
        return StaffResult(str(error), exit_code=2)


# The commands declare themselves into COMMANDS when their module is imported.
from handlers.staff import actions as _actions  # noqa: E402
