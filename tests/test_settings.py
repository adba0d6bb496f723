"""Settings: defaults, one-line errors naming the variable, secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./data/clinicbot.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.auto_migrate and not settings.store_message_bodies


def test_run_without_any_channel_names_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match=r"^TELEGRAM_BOT_TOKEN is not set") as caught:
        load_settings().require_channel()
    assert caught.value.exit_code == 2


def test_half_configured_twilio_names_the_missing_token() -> None:
    settings = load_settings(twilio_account_sid="AC" + "0" * 32)
    with pytest.raises(ConfigError, match=r"^TWILIO_AUTH_TOKEN is not set"):
        settings.require_channel()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLINIC_TIMEZONE", "Mars/Olympus_Mons", "CLINIC_TIMEZONE: unknown IANA time zone"),
        ("PORT", "eighty", "PORT:"),
        ("PORT", "70000", "PORT:"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL:"),
        ("AUTO_MIGRATE", "perhaps", "AUTO_MIGRATE:"),
    ],
)
def test_invalid_values_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_dotenv_is_read_and_secrets_stay_hidden() -> None:
    # The autouse fixture made the test's tmp_path the working directory.
    Path(".env").write_text("TELEGRAM_BOT_TOKEN=123:very-secret\nPORT=9090\n")
    settings = load_settings()
    assert settings.port == 9090
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:very-secret"
    assert "very-secret" not in repr(settings)
    settings.require_channel()  # a token is enough
