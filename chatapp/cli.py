"""``flask chat ...``: operator commands, including a write-only emitter."""

from __future__ import annotations

import click
from flask import Flask

from .extensions import db
from .models import User
from .services import accounts, messaging, reports
from .services.errors import ChatError
from .timeutil import iso


def register_cli(app: Flask) -> None:
    @app.cli.group("chat")
    def chat() -> None:
        """Chat administration."""

    from .push_worker import push_worker_command

    chat.add_command(push_worker_command)  # `chat push-worker` (chatapp/push_worker.py)

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

    @chat.group("reports", invoke_without_command=True)
    @click.option("--all", "include_resolved", is_flag=True, help="resolved reports too")
    @click.pass_context
    def reports_group(ctx: click.Context, include_resolved: bool) -> None:
        """List open message reports, oldest first (resolve one with `reports resolve ID`).

        To deactivate a reported user: `flask chat deactivate USERNAME`.
        """
        if ctx.invoked_subcommand is not None:
            return
        found = reports.list_reports(include_resolved=include_resolved)
        if not found:
            click.echo("no open reports" if not include_resolved else "no reports")
            return
        for report in found:
            state = "open" if report.resolved_at is None else f"resolved {iso(report.resolved_at)}"
            click.echo(
                f"#{report.id}  {iso(report.created_at)}  {state}\n"
                f"    reporter: {report.reporter}  reported user: {report.reported_user}\n"
                f"    conversation {report.conversation_id} ({report.conversation})  message {report.message_id}: "
                f"{report.excerpt}\n"
                f"    reason: {report.reason}"
                + (f"\n    resolution: {report.resolution}" if report.resolution else "")
            )

    @reports_group.command("resolve")
    @click.argument("report_id", type=int)
    @click.option("--note", default=None, help="what was done (kept with the report)")
    def resolve(report_id: int, note: str | None) -> None:
        """Mark report REPORT_ID resolved."""
        try:
            report = reports.resolve_report(report_id, note)
        except ChatError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"resolved report {report.id}")
