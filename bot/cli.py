"""The `clinicbot` command: chat, ask, run, db and content."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.app import load_answerer, open_services
from bot.channels.terminal import TerminalChat
from bot.cli_broadcasts import broadcast as broadcast_command
from bot.cli_broadcasts import broadcasts as broadcasts_command
from bot.cli_broadcasts import tag as tag_group
from bot.cli_reminders import reminders as reminders_group
from bot.cli_staff import audit_command, stats_command
from bot.cli_staff import staff as staff_group
from bot.cli_triage import triage as triage_group
from bot.clock import utc_now
from bot.db.migrate import current_revision, head_revision, upgrade
from bot.db.session import Database
from bot.errors import ClinicbotError
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from content.check import check_content
from content.store import read_yaml
from content.text import LANGUAGES
from handlers.triage import load_red_flag_rules
from handlers.triage.explain import rule_problems

__all__ = ["cli", "main"]

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clinicbot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """clinicbot: a patient-engagement chatbot for small integrative clinics."""
    settings = load_settings()
    configure_logging(settings.log_level)
    ctx.obj = settings


@cli.command()
@click.option("--as", "who", default="local", show_default=True, help="Patient name in the chat.")
@click.pass_context
def chat(ctx: click.Context, who: str) -> None:
    """Talk to the bot as a patient in this terminal (type /quit to leave)."""
    settings = _settings(ctx)
    # The chat is a conversation on the terminal: only errors interrupt it.
    logging.getLogger().setLevel(max(logging.ERROR, logging.getLogger().level))

    async def talk() -> None:
        services = await open_services(settings)
        try:
            await TerminalChat(services.pipeline, clock=utc_now, address=f"cli:{who}").run()
        finally:
            await services.close()

    try:
        _run(talk())
    except KeyboardInterrupt:  # Ctrl-C leaves the chat, as /quit does
        click.echo("")


@cli.command()
@click.argument("text", required=False)
@click.option("--jsonl", is_flag=True, help="Read messages from stdin, one per line; write JSON.")
@click.option("--lang", type=click.Choice(["en", "es"]), help="Answer in this language.")
@click.pass_context
def ask(ctx: click.Context, text: str | None, jsonl: bool, lang: str | None) -> None:
    """Print the bot's reply to TEXT, without touching patient data."""
    answerer = load_answerer(_settings(ctx))
    if jsonl:
        for line in sys.stdin:
            message = line.rstrip("\n")
            data = answerer.answer(message, lang).as_json()
            click.echo(json.dumps(data, ensure_ascii=False))
        return
    if text is None:
        raise click.UsageError("give the TEXT to answer, or --jsonl to read stdin")
    reply = answerer.answer(text, lang)
    click.echo(reply.text)
    for option in reply.options:
        click.echo(f"  - {option.label}")


KEEP_ALIVE_SECONDS = 75


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Serve patients: webhooks and health on HOST:PORT (channels need their settings)."""
    import uvicorn

    from bot.web import create_app

    settings = _settings(ctx)
    settings.require_channel()
    load_answerer(settings)  # fail fast, with one line, before binding the port
    app = create_app(settings)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            # Longer than a proxy's or a client's idle timeout (60 s is common): a kept-alive
            # connection the server closes just as a request goes out on it is a reset.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    except SystemExit:
        failures: list[ClinicbotError] = app.state.startup_failures
        if failures:  # uvicorn logged its one line; exit with its code, as other commands do
            raise click.exceptions.Exit(failures[-1].exit_code) from None
        raise


@cli.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the database to this version's schema."""

    async def migrate() -> str | None:
        database = Database.open(_settings(ctx).database_url)
        try:
            await upgrade(database.engine)
            return await current_revision(database.engine)
        finally:
            await database.close()

    click.echo(f"database is at revision {_run(migrate())} (head {head_revision()})")


@cli.group()
def appointments() -> None:
    """Import the clinic's appointments."""


@appointments.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", metavar="csv|ics", help="File format (default: the extension).")
@click.pass_context
def appointments_import(ctx: click.Context, file: Path, fmt: str | None) -> None:
    """Import appointments from a CSV or .ics FILE; exit 1 if any row was skipped."""
    # Imported here so other commands start without loading icalendar.
    from scheduler.imports import import_appointment_file

    report = _run(import_appointment_file(_settings(ctx), file, fmt, now=utc_now()))
    for error in report.errors:
        click.echo(error)
    click.echo(f"{file}: {report.summary()}")
    if report.errors:
        raise click.exceptions.Exit(1)


@cli.group()
def content() -> None:
    """Check the clinic's content files."""


@content.command("check")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path), help="Content folder to check."
)
@click.pass_context
def content_check(ctx: click.Context, directory: Path | None) -> None:
    """Validate every content file; print `file:line: message` for each problem."""
    directory = directory or _settings(ctx).content_dir
    problems = [str(problem) for problem in check_content(directory)]
    try:
        rules = load_red_flag_rules(directory / "red_flags.yaml")
    except (ValueError, OSError) as exc:
        problems.append(str(exc))
    else:
        # Each rule's reply must be a message in every language (a missing file is reported above).
        found = [directory / "messages" / f"{lang}.yaml" for lang in LANGUAGES]
        messages = [read_yaml(path) if path.is_file() else {} for path in found]
        problems += rule_problems(
            rules, lambda key: all(isinstance(m, dict) and key in m for m in messages)
        )
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"content in {directory}: ok")


# Staff announcements and patient tags live in their own module (bot/cli_broadcasts.py).
for _command in (broadcast_command, broadcasts_command, tag_group):
    cli.add_command(_command)
# Staff, the audit trail and stats (bot/cli_staff.py).
for _command in (staff_group, audit_command, stats_command):
    cli.add_command(_command)
# A patient's between-visit tips, for staff (bot/cli_reminders.py).
cli.add_command(reminders_group)
# Why a message is or is not a red flag, and scores on labelled sets (bot/cli_triage.py).
cli.add_command(triage_group)


def _guarded(entry: Callable[[], Any]) -> int:
    try:
        entry()
    except ClinicbotError as exc:
        click.echo(f"clinicbot: {exc}", err=True)
        return exc.exit_code
    return 0


def main() -> None:
    """Run the CLI, turning errors a user can cause into one line and an exit code."""
    sys.exit(_guarded(lambda: cli.main(standalone_mode=True)))
