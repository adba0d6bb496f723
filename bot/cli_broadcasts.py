"""The `clinicbot broadcast`, `broadcasts` and `tag` commands: declared staff commands, as "cli".

Options and arguments are click's; the work, the texts and the audit are the registry's
(handlers.staff.commands). A refusal is one line on stderr and exit 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli_session import staff_command
from handlers.ids import ROW_ID_MAX

__all__ = ["broadcast", "broadcasts", "tag"]

# A number no broadcast can have is a one-line usage error, not a database overflow.
BROADCAST_ID = click.IntRange(1, ROW_ID_MAX)


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"clinicbot: {message}", err=True)
    return click.exceptions.Exit(2)


@click.command()
@click.option("--text", help="The announcement in English (also the fallback).")
@click.option("--file", "file", type=click.Path(path_type=Path), help="Read the text from FILE.")
@click.option("--text-es", help="The announcement in Spanish.")
@click.option("--audience", required=True, help="all, channel=, lang=, tag=, appointment_within=")
@click.option("--at", "at", help="Send at this ISO time (clinic time if no offset).")
@click.option("--dry-run", is_flag=True, help="Print the preview and counts; change nothing.")
@click.pass_context
def broadcast(
    ctx: click.Context,
    text: str | None,
    file: Path | None,
    text_es: str | None,
    audience: str,
    at: str | None,
    dry_run: bool,
) -> None:
    """Announce something to patients who agreed to announcements."""
    if (text is None) == (file is None):
        raise _fail("give exactly one of --text or --file")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {file}: {exc.__class__.__name__}") from None
    args = {
        "text": text or "",
        "text_es": text_es,
        "audience": audience,
        "at": at,
        "dry_run": "true" if dry_run else None,
    }
    click.echo(staff_command(ctx, "broadcast", args).text)


@click.command()
@click.option("--cancel", type=BROADCAST_ID, metavar="ID", help="Cancel a broadcast.")
@click.option("--report", type=BROADCAST_ID, metavar="ID", help="Show a delivery report.")
@click.pass_context
def broadcasts(ctx: click.Context, cancel: int | None, report: int | None) -> None:
    """List recent and scheduled broadcasts, cancel one, or show its delivery report."""

    if cancel is not None:
        result = staff_command(ctx, "broadcast_cancel", {"id": str(cancel)})
    elif report is not None:
        result = staff_command(ctx, "broadcast_report", {"id": str(report)})
    else:
        result = staff_command(ctx, "broadcasts", {"limit": "20"})
    click.echo(result.text)


@click.group()
def tag() -> None:
    """Tag patients (by address, e.g. tel:+15551234567) to choose an audience."""


@tag.command("add")
@click.argument("urn")
@click.argument("name")
@click.pass_context
def tag_add(ctx: click.Context, urn: str, name: str) -> None:
    """Give the patient with address URN the tag NAME."""
    click.echo(staff_command(ctx, "tag_add", {"urn": urn, "name": name}).text)


@tag.command("remove")
@click.argument("urn")
@click.argument("name")
@click.pass_context
def tag_remove(ctx: click.Context, urn: str, name: str) -> None:
    """Take the tag NAME off the patient with address URN."""
    click.echo(staff_command(ctx, "tag_remove", {"urn": urn, "name": name}).text)


@tag.command("list")
@click.argument("urn", required=False)
@click.pass_context
def tag_list(ctx: click.Context, urn: str | None) -> None:
    """List tags: `patient <id>: <tag>`, for one address or everyone."""
    text = staff_command(ctx, "tag_list", {"urn": urn}).text
    if text:
        click.echo(text)
