"""Configuration from the environment: one reader for each variable, a malformed
value named in a clear error, and engine options merged rather than replaced."""

from __future__ import annotations

import os
import subprocess

import pytest

import config
from chatapp import create_app
from tests.support.server import PYTHON, ROOT


def _run(code: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k not in ("ASYNC_MODE",)}
    return subprocess.run(
        [PYTHON, "-W", "ignore::DeprecationWarning", *code], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHAT_MAX_BODY_CHARS", "abc", "CHAT_MAX_BODY_CHARS='abc' is not an integer"),
        ("CHAT_RATE_LOGIN_PER_SECOND", "fast", "CHAT_RATE_LOGIN_PER_SECOND='fast' is not a number"),
        # The unprefixed spelling is named as set.
        ("MAX_GROUP_MEMBERS", "1e3", "MAX_GROUP_MEMBERS='1e3' is not an integer"),
    ],
)
def test_a_malformed_value_stops_the_server_naming_the_variable(variable: str, value: str, message: str) -> None:
    result = _run(["wsgi.py"], **{variable: value, "CHAT_ASYNC_MODE": "threading"})
    assert result.returncode == 1
    assert result.stderr.strip() == f"configuration error: {message}"


def test_importing_the_configuration_raises_a_config_error_not_a_bare_value_error() -> None:
    result = _run(["-c", "import config"], CHAT_MAX_BODY_CHARS="abc")
    assert result.returncode == 1
    assert "config.ConfigError: CHAT_MAX_BODY_CHARS='abc' is not an integer" in result.stderr


@pytest.mark.parametrize("variable", ["CHAT_ASYNC_MODE", "ASYNC_MODE"])
def test_the_async_mode_patched_is_the_mode_the_app_runs(variable: str) -> None:
    """ASYNC_MODE=gevent alone used to patch for eventlet and run gevent."""
    probe = (
        "import wsgi, sys; from gevent import monkey;"
        "print(wsgi.ASYNC_MODE, wsgi.app.config['ASYNC_MODE'], monkey.is_module_patched('socket'),"
        " 'eventlet' in sys.modules)"
    )
    result = _run(["-c", probe], **{variable: "gevent", "CHAT_DATABASE_URL": "sqlite://"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gevent", "gevent", "True", "False"]


def test_engine_options_of_the_configuration_are_merged_over_the_drivers_defaults(monkeypatch) -> None:
    monkeypatch.setattr(config.TestingConfig, "SQLALCHEMY_ENGINE_OPTIONS", {"pool_size": 3, "echo_pool": False})
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:1/none")
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_size"] == 3 and options["echo_pool"] is False  # the configuration's
    assert options["pool_timeout"] == 5 and options["pool_size"] == 3  # the driver's timeout kept
    assert "pool_pre_ping" not in options  # chatapp/idle_ping.py pings idle connections instead


def test_a_create_app_override_still_wins() -> None:
    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:1/none",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0},
    )  # fmt: skip
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (1, 0, 5)
