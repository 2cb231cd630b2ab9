"""Reports of messages by users, and their review by operators (``flask chat reports``).

A report is kept whatever happens to the message afterwards: its reason, who
reported it, and a copy of nothing else; the operator reads the message as it is
now (a deleted one shows as deleted). Deactivating the reported user is the
existing ``flask chat deactivate <username>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from ..contract import limits
from ..extensions import db
from ..models import Conversation, Message, Report, User
from ..timeutil import utcnow
from . import ratelimit
from .errors import NotFound
from .messaging import readable_message
from .validation import entity_id, text

EXCERPT_CHARS = 80


def report_message(user: User, message_id: object, reason: object) -> int:
    """File a report; the message must be readable by ``user`` (else not_found, as for any
    message they cannot see). Returns the report's id."""
    message = readable_message(user, message_id)
    why = text(reason, "reason", max_chars=limits.MAX_REPORT_REASON_CHARS)
    ratelimit.check_report(user.id)
    report = Report(message_id=message.id, reporter_id=user.id, reason=why)
    db.session.add(report)
    db.session.commit()
    current_app.logger.info("message %s reported (report %s)", message.id, report.id)
    return report.id


@dataclass(frozen=True)
class OpenReport:
    """A report as an operator lists it."""

    id: int
    created_at: datetime
    reporter: str
    reported_user: str
    conversation_id: int
    conversation: str
    message_id: int
    excerpt: str
    reason: str
    resolved_at: datetime | None
    resolution: str | None


def list_reports(*, include_resolved: bool = False) -> list[OpenReport]:
    """Open reports (or all of them), oldest first: the order to work through them."""
    reporter = db.aliased(User)
    sender = db.aliased(User)
    stmt = (
        select(Report, Message, Conversation, reporter, sender)
        .join(Message, Message.id == Report.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(reporter, reporter.id == Report.reporter_id)
        .join(sender, sender.id == Message.sender_id)
        .order_by(Report.created_at, Report.id)
    )
    if not include_resolved:
        stmt = stmt.where(Report.resolved_at.is_(None))
    found = []
    for report, message, conversation, by, author in db.session.execute(stmt):
        found.append(OpenReport(
            id=report.id, created_at=report.created_at, reporter=by.username, reported_user=author.username,
            conversation_id=conversation.id, conversation=conversation.name or "(direct)",
            message_id=message.id, excerpt=_excerpt(message), reason=report.reason,
            resolved_at=report.resolved_at, resolution=report.resolution,
        ))
    return found


def resolve_report(report_id: object, note: str | None = None) -> Report:
    """Close a report (idempotent: resolving again keeps the first resolution)."""
    rid = entity_id(report_id, "report_id")
    report = db.session.get(Report, rid)
    if report is None:
        raise NotFound(f"no report {rid}")
    if report.resolved_at is None:
        # The same rules as a reason (trimmed, storable, bounded); empty means no note.
        shown = None if note is None else text(note, "note", max_chars=limits.MAX_REPORT_REASON_CHARS, min_chars=0)
        report.resolved_at = utcnow()
        report.resolution = shown or None
        db.session.commit()
    return report


def _excerpt(message: Message) -> str:
    if message.deleted:
        return "(deleted)"
    body = " ".join(message.body.split())
    return body if len(body) <= EXCERPT_CHARS else body[: EXCERPT_CHARS - 1] + "…"
