"""Entry point: monkey-patching first (when the async mode needs it), then the app.

``python wsgi.py`` serves on HOST/PORT; gunicorn serves ``wsgi:app``.
"""

import os
import sys

# config.py imports nothing that monkey-patching must precede (os, secrets,
# pathlib); it is the one reader of CHAT_ASYNC_MODE / ASYNC_MODE, so the mode
# patched here is the mode the app runs.
try:
    from config import env_async_mode, env_database_url, env_end_of_turn_writes

    ASYNC_MODE = env_async_mode()
    _DB_URL = env_database_url() or ""
    _END_OF_TURN_WRITES = env_end_of_turn_writes()
except ValueError as exc:  # config.ConfigError: a malformed value, named, instead of a traceback
    sys.exit(f"configuration error: {exc}")

if ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
    if _DB_URL.startswith("postgres"):
        from psycogreen.eventlet import patch_psycopg

        # psycopg2 waits on the hub instead of blocking it. monkey_patch() has
        # already done the same (its psycopg patcher); explicit, and the same
        # call as under gevent, where nothing else does it.
        # tests/e2e/test_postgres_green.py proves both.
        patch_psycopg()
    # eventlet unmasks every incoming WebSocket frame in pure Python, byte by byte.
    from chatapp.realtime.eventlet_websocket import install as _install_eventlet_websocket

    _install_eventlet_websocket(end_of_turn_writes=_END_OF_TURN_WRITES)
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()
    if _DB_URL.startswith("postgres"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()
    # gunicorn's plain gevent worker upgrades through simple-websocket, the
    # others through gevent-websocket: serve both (see the module).
    from chatapp.realtime.gevent_websocket import install as _install_gevent_websocket

    _install_gevent_websocket()
    import logging

    # gevent-websocket logs every request at INFO, ignoring log_output=False.
    logging.getLogger("geventwebsocket.handler").setLevel(logging.WARNING)

from chatapp import create_app  # noqa: E402
from chatapp.extensions import socketio  # noqa: E402
from chatapp.memory import freeze_startup_objects, map_large_allocations  # noqa: E402

# Freed password hashes (19 MiB each) return to the OS instead of staying in RSS.
map_large_allocations()

app = create_app()
# After the app and its imports: a full collection no longer walks them (~150 ms).
freeze_startup_objects()


def cli() -> None:
    """The ``chat`` console script (pyproject.toml): this app's Flask CLI with the
    ``flask chat`` commands at the top (``chat announce``, ``chat deactivate``)
    next to ``chat db upgrade``. Imported through this module, so the async
    mode's monkey-patching comes first, as for ``flask --app wsgi``."""
    import click
    from flask.cli import FlaskGroup

    group = FlaskGroup(name="chat", create_app=lambda: app, load_dotenv=False, set_debug_flag=False)
    chat_commands = app.cli.commands["chat"]
    assert isinstance(chat_commands, click.Group)
    for command in chat_commands.commands.values():
        group.add_command(command)
    group.main(prog_name="chat")

if __name__ == "__main__":
    from chatapp.serving import serve

    serve(
        app,
        socketio,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        max_connections=int(os.environ.get("CHAT_MAX_CONNECTIONS", "20000")),
        # Slow-loris deadlines (chatapp/serving.py).
        header_timeout=float(os.environ.get("CHAT_HEADER_TIMEOUT_SECONDS", "10")),
        idle_timeout=float(os.environ.get("CHAT_IDLE_TIMEOUT_SECONDS", "60")),
    )
