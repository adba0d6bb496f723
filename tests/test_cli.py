"""The `clinicbot` command as a user runs it: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import DEFAULT_CONTENT_DIR


def clinicbot(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_URL"))
    }
    environment["PYTHONPATH"] = str(DEFAULT_CONTENT_DIR.parent)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_run_without_a_channel_exits_2_with_one_line() -> None:
    result = clinicbot("run")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("clinicbot: TELEGRAM_BOT_TOKEN is not set")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("nonsense", 2, "DATABASE_URL is not a database URL"),
        ("mysql://u@h/db", 2, "DATABASE_URL uses 'mysql"),
        ("postgresql://nobody:pw@127.0.0.1:9/x", 1, "cannot use the database"),
    ],
)
def test_bad_database_urls_are_one_line(url: str, code: int, message: str) -> None:
    result = clinicbot("db", "upgrade", env={"DATABASE_URL": url})
    assert result.returncode == code
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path) -> None:
    result = clinicbot("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database is at revision" in result.stdout
    assert (tmp_path / "data" / "clinicbot.db").exists()


def test_chat_greets_and_quits(tmp_path: Path) -> None:
    result = clinicbot("chat", stdin="hello\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "bot> Hi! I'm the assistant for Willow Creek" in result.stdout


def test_ask_jsonl_follows_the_contract() -> None:
    lines = [
        "does acupuncture hurt",
        "¿cuánto cuesta la primera visita?",
        "who won the game",
        "i have chest pain",
    ]
    result = clinicbot("ask", "--jsonl", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(replies) == 4
    for reply in replies:
        assert {"kind", "topic", "category", "lang", "score", "text", "sms"} <= set(reply)
    assert (replies[0]["kind"], replies[0]["topic"], replies[0]["lang"]) == (
        "faq",
        "acupuncture.pain",
        "en",
    )
    assert (replies[1]["kind"], replies[1]["topic"], replies[1]["lang"]) == (
        "faq",
        "pricing",
        "es",
    )
    assert replies[2]["kind"] == "fallback"
    assert (replies[3]["kind"], replies[3]["category"]) == ("red_flag", "emergency")
    assert not Path("data").exists()  # no side effects on patient data


def test_content_check_reports_file_and_line(tmp_path: Path) -> None:
    assert clinicbot("content", "check").returncode == 0
    broken = tmp_path / "content"
    shutil.copytree(
        DEFAULT_CONTENT_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    (broken / "answers" / "en" / "herbs.md").write_text("---\nid: herbs\n")
    result = clinicbot("content", "check", "--dir", str(broken))
    assert result.returncode == 1
    assert (
        f"{broken / 'answers' / 'en' / 'herbs.md'}:1: front matter is not closed" in result.stdout
    )


@pytest.mark.parametrize(
    "command", [[], ["chat"], ["ask"], ["run"], ["db"], ["db", "upgrade"], ["content", "check"]]
)
def test_help_everywhere(command: list[str]) -> None:
    result = clinicbot(*command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_staff_set_and_show_a_patients_tips(tmp_path: Path) -> None:
    assert clinicbot("chat", stdin="hello\n/quit\n").returncode == 0  # the patient cli:local
    changed = clinicbot(
        "reminders", "set", "cli:local", "--on", "diet", "--time", "18:30", "--days", "weekdays",
        "--timezone", "America/Chicago", "--record-consent",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "Diet" in changed.stdout or "diet" in changed.stdout.lower()
    assert "18:30" in changed.stdout and "weekdays" in changed.stdout
    assert "America/Chicago" in changed.stdout
    shown = clinicbot("reminders", "show", "cli:local")
    assert shown.stdout == changed.stdout
    audit = clinicbot("audit")
    assert "reminders.changed" in audit.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time", "23:30"], "23:30 falls in quiet hours"),
        (["--time", "noonish"], "'noonish' is not a time like 09:30"),
        (["--timezone", "Mars/Base"], "Mars/Base is not an IANA time zone"),
    ],
)
def test_bad_tip_settings_are_one_line_and_change_nothing(args: list[str], message: str) -> None:
    assert clinicbot("chat", stdin="hello\n/quit\n").returncode == 0
    before = clinicbot("reminders", "show", "cli:local").stdout
    result = clinicbot("reminders", "set", "cli:local", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == f"clinicbot: {message}"
    assert clinicbot("reminders", "show", "cli:local").stdout == before


@pytest.mark.parametrize(
    "args",
    [
        ["broadcasts", "--cancel", "1e30"],
        ["broadcasts", "--cancel", "99999999999999999999999"],
        ["broadcasts", "--report", "3000000000"],
        ["staff", "add", "9" * 30],
        ["staff", "remove", "9" * 30],
        ["staff", "add", "0"],
    ],
)
def test_ids_no_row_can_have_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    """A number past the id columns' range used to overflow in the database (a traceback)."""
    result = clinicbot(*args, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'ids.db'}"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Invalid value for")


def test_a_staff_id_too_large_in_settings_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ids.db'}", "STAFF_TELEGRAM_IDS": "9" * 30}
    result = clinicbot("staff", "list", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a Telegram user id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////proc/clinic.db", "clinicbot: data directory /proc is not writable"),
        ("postgresql://nobody:pw@127.0.0.1:9/x", "clinicbot: cannot use the database"),
    ],
)
def test_run_with_unusable_storage_is_one_line_not_a_traceback(url: str, message: str) -> None:
    """Start-up errors inside uvicorn's lifespan were logged as tracebacks, then exit 3."""
    env = {
        "DATABASE_URL": url,
        "PORT": "9",  # never bound: start-up fails first
        "TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
        "TWILIO_AUTH_TOKEN": "test-auth-token",
        "TWILIO_MESSAGING_SERVICE_SID": "MG0123456789abcdef0123456789abcdef",
        "PUBLIC_URL": "https://bot.clinic.example",
    }
    result = clinicbot("run", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "File " not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 2 and message in errors[0], result.stderr
