"""The push settings: defaults, CHAT_PUSH_ALLOW_INSECURE refused in production
(from the environment or from create_app), and a sender built from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from chatapp import create_app
from chatapp.push import PushSender
from config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "ASYNC_MODE"}
    return subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", code], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_defaults() -> None:
    settings = config.Config
    assert settings.PUSH_ALLOW_INSECURE is False and settings.PUSH_TIMEOUT == 5.0
    assert settings.VAPID_PRIVATE_KEY is None and settings.FCM_CREDENTIALS is None and settings.FCM_TOKEN_URL is None
    assert settings.VAPID_SUBJECT.startswith("mailto:")
    assert settings.FCM_SEND_URL == "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"


def test_production_refuses_allow_insecure_from_create_app() -> None:
    with pytest.raises(ConfigError, match="CHAT_PUSH_ALLOW_INSECURE=1 is refused in production"):
        create_app("production", PUSH_ALLOW_INSECURE=True)


def test_production_refuses_allow_insecure_from_the_environment() -> None:
    result = _run("import wsgi", CHAT_CONFIG="production", CHAT_PUSH_ALLOW_INSECURE="1", CHAT_ASYNC_MODE="threading",
                  CHAT_SECRET_KEY="s" * 64, CHAT_DATABASE_URL="sqlite://")  # fmt: skip
    assert result.returncode != 0
    assert "CHAT_PUSH_ALLOW_INSECURE=1 is refused in production" in result.stderr


def test_development_and_tests_may_allow_insecure() -> None:
    app = create_app("testing", PUSH_ALLOW_INSECURE=True)
    assert app.config["PUSH_ALLOW_INSECURE"] is True


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("off", False), ("", False)]
)
def test_allow_insecure_reads_the_usual_spellings(value, expected) -> None:
    result = _run("import config; print(config.Config.PUSH_ALLOW_INSECURE)", CHAT_PUSH_ALLOW_INSECURE=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def test_a_malformed_boolean_stops_the_start_naming_the_variable() -> None:
    result = _run("import config", CHAT_PUSH_ALLOW_INSECURE="maybe")
    assert result.returncode == 1
    assert "config.ConfigError: CHAT_PUSH_ALLOW_INSECURE='maybe' is not a boolean" in result.stderr


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_a_timeout_that_is_not_positive_is_refused(timeout, tmp_path) -> None:
    with pytest.raises(ConfigError, match="CHAT_PUSH_TIMEOUT"):
        create_app("testing", PUSH_TIMEOUT=timeout)
    with pytest.raises(ConfigError, match="CHAT_PUSH_TIMEOUT"):
        PushSender.from_config({"PUSH_TIMEOUT": timeout}, str(tmp_path))


def test_a_sender_from_the_apps_configuration(tmp_path) -> None:
    app = create_app("testing")
    sender = PushSender.from_config(app.config, str(tmp_path))
    assert sender.allow_insecure is False and sender.transport.timeout == 5.0 and sender.fcm is None
    assert sender.vapid.subject == app.config["VAPID_SUBJECT"]
    sender.close()
