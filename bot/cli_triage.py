"""`clinicbot triage`: show why a message is or is not flagged, and score a labelled set."""

from __future__ import annotations

from pathlib import Path

import click

from bot.settings import Settings
from handlers.triage import RedFlagRules, load_red_flag_rules
from handlers.triage.evaluation import evaluate, load_cases
from handlers.triage.explain import explain

__all__ = ["triage"]


def _rules(ctx: click.Context) -> RedFlagRules:
    settings: Settings = ctx.obj  # set by the `clinicbot` group
    path = settings.content_dir / "red_flags.yaml"
    try:
        return load_red_flag_rules(path)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def triage() -> None:
    """Red-flag triage: explain a message, or score a labelled set."""


@triage.command("explain")
@click.argument("text")
@click.pass_context
def triage_explain(ctx: click.Context, text: str) -> None:
    """Print the concepts, modifier cues and rules that a message meets."""
    for line in explain(text, _rules(ctx)).lines():
        click.echo(line)


@triage.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def triage_eval(ctx: click.Context, file: Path) -> None:
    """Score triage on a JSON-lines file of labelled messages; list every miss."""
    try:
        cases = load_cases(file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for line in evaluate(cases, _rules(ctx)).lines():
        click.echo(line)
