"""``flask chat ...``: operator commands, including a write-only emitter."""

from __future__ import annotations

import click
from flask import Flask

from .extensions import db
from .models import User
from .services import accounts, messaging
from .services.errors import ChatError


def register_cli(app: Flask) -> None:
    @app.cli.group("chat")
    def chat() -> None:
        """Chat administration."""

    @chat.command("announce")
    @click.option("--conversation", "conversation_id", type=int, required=True)
    @click.option("--as", "username", required=True, help="the posting user (e.g. a system account)")
    @click.option("--client-id", default=None, help="idempotency key (default: random)")
    @click.argument("body")
    def announce(conversation_id: int, username: str, client_id: str | None, body: str) -> None:
        """Post BODY into a conversation and deliver it live through the message queue.

        Runs without serving sockets: the events go through Redis to whichever
        workers hold the members' sockets (REDIS_URL must be set in a cluster).
        """
        import uuid

        user = db.session.scalar(db.select(User).where(User.username == username.lower()))
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        try:
            message, created = messaging.send_message(user, conversation_id, body, client_id or str(uuid.uuid4()))
        except ChatError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
        click.echo(f"{'sent' if created else 'already sent'} message {message['id']} seq {message['seq']}")

    @chat.command("deactivate")
    @click.argument("username")
    def deactivate(username: str) -> None:
        """Deactivate a user: tokens revoked, live sockets closed on every worker."""
        user = db.session.scalar(db.select(User).where(User.username == username.lower()))
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        accounts.deactivate_user(user.id)
        click.echo(f"deactivated {user.username}")
