"""v2: turn due push jobs into pushes: decide, build the payload, send, record.

One ``deliver_due`` call is one batch: claim (committed), read what the batch
needs in a few queries, send every push with no database transaction open (a
slow push service never holds a connection or a lock), then record the outcome
in one transaction (services/push_outbox.py). Runs in every worker's background
loop (realtime/tasks.py); the claim makes each push go out once.

Decided again at send time, not only when queued: a device that acknowledged
(``delivered`` or ``read`` at or above the seq) during the delay, a message
deleted meanwhile, a conversation muted or left meanwhile: no push.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select, tuple_

from ..contract.limits import PUSH_PREVIEW_CHARS
from ..extensions import db
from ..models import Conversation, Membership, Message, PushSubscription, User
from ..models.message import parse_mentions
from ..push.sender import PushSender
from ..push.targets import Outcome, PushTarget
from ..timeutil import utcnow
from . import push_outbox, uploads
from .push_outbox import MESSAGE, Job, Retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Push:
    """One HTTP push to one device, decided and built; sent outside any transaction."""

    job: Job
    subscription_id: int
    target: PushTarget
    payload: dict[str, Any]
    topic: str
    urgency: str
    collapse_key: str


# Sends a list of pushes (concurrently: realtime/tasks.py gives a pool) and
# answers their outcomes in the same order.
SendMany = Callable[[list[Push]], list[Outcome]]


def sender() -> PushSender:
    """The worker's sender (VAPID keys, FCM token cache), created on first use."""
    existing: PushSender | None = current_app.extensions.get("chat.push_sender")
    if existing is None:
        existing = PushSender.from_config(current_app.config, current_app.instance_path)
        current_app.extensions["chat.push_sender"] = existing
    return existing


def send_sequentially(pushes: list[Push]) -> list[Outcome]:
    push_sender = sender()
    return [push_sender.send(p.target, p.payload, topic=p.topic, urgency=p.urgency, collapse_key=p.collapse_key)
            for p in pushes]


def deliver_due(send_many: SendMany = send_sequentially) -> int:
    """Claim, send and record one batch of due jobs; returns how many were claimed."""
    cfg = current_app.config
    jobs = push_outbox.claim(cfg["PUSH_BATCH_SIZE"], cfg["PUSH_LEASE_SECONDS"])
    if not jobs:
        return 0
    pushes = plan(jobs)
    push_outbox.mark_pushed(_about_to_push(pushes))  # commits: no transaction open during network I/O
    outcomes = send_many(pushes) if pushes else []
    record(jobs, pushes, outcomes)
    return len(jobs)


# ---------------------------------------------------------------- deciding


def plan(jobs: list[Job]) -> list[Push]:
    """The pushes that ``jobs`` still call for, in a handful of queries per batch."""
    pairs = {(job.user_id, job.conversation_id) for job in jobs}
    members = {
        (m.user_id, m.conversation_id): m
        for m in db.session.execute(
            select(Membership.user_id, Membership.conversation_id, Membership.last_read_seq,
                   Membership.delivered_seq, Membership.notifications, Membership.muted_until)
            .where(tuple_(Membership.user_id, Membership.conversation_id).in_(list(pairs)))
        )
    }
    message_ids = [job.message_id for job in jobs if job.message_id is not None]
    messages = {
        m.id: m for m in db.session.execute(
            select(Message.id, Message.sender_id, Message.body, Message.deleted, Message.mentions)
            .where(Message.id.in_(message_ids))
        )
    } if message_ids else {}
    # A captionless photo is previewed as "Photo" (services/uploads.preview_kind).
    files = uploads.attachments_of([mid for mid, m in messages.items() if not m.body])
    conversation_ids = {job.conversation_id for job in jobs}
    conversations = {
        c.id: c for c in db.session.execute(
            select(Conversation.id, Conversation.type, Conversation.name).where(Conversation.id.in_(conversation_ids))
        )
    }
    user_ids = {job.user_id for job in jobs} | {m.sender_id for m in messages.values()}
    names = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all())
    devices: dict[int, list[PushSubscription]] = {}
    for device in db.session.scalars(
        select(PushSubscription).where(PushSubscription.user_id.in_({job.user_id for job in jobs}))
    ):
        devices.setdefault(device.user_id, []).append(device)
    totals = dict(db.session.execute(
        select(Membership.user_id, func.sum(Membership.unread_count))
        .where(Membership.user_id.in_({job.user_id for job in jobs}))
        .group_by(Membership.user_id)
    ).all())
    now = utcnow()
    pushes: list[Push] = []
    for job in jobs:
        member = members.get((job.user_id, job.conversation_id))
        if member is None:
            continue  # left or removed since
        total = int(totals.get(job.user_id) or 0)
        topic = f"c{job.conversation_id}"
        if job.kind == MESSAGE:
            message = messages.get(job.message_id or 0)
            if message is None or message.deleted or not _still_wanted(job, member, message, now):
                continue
            conversation = conversations[job.conversation_id]
            payload = {
                "type": "message", "conversation_id": job.conversation_id, "message_id": message.id,
                "seq": job.seq, "sender_id": message.sender_id,
                "title": _title(names.get(message.sender_id, ""), conversation),
                "body": _preview(message.body) or uploads.preview_kind(files.get(message.id, [])) or "",
                "mentioned": job.user_id in parse_mentions(message.mentions),
                "total_unread": total,
            }
            urgency = "high"
        else:
            payload = {"type": "read", "conversation_id": job.conversation_id, "seq": job.seq, "total_unread": total}
            urgency = "normal"
        for device in _devices_of(job, devices.get(job.user_id, [])):
            target = PushTarget(type=device.type, endpoint=device.address if device.type == "webpush" else None,  # type: ignore[arg-type]
                                p256dh=device.p256dh, auth=device.auth,
                                token=device.address if device.type == "fcm" else None)
            pushes.append(Push(job, device.id, target, payload, topic, urgency, topic))
    return pushes


def _still_wanted(job: Job, member: Any, message: Any, now: Any) -> bool:
    if member.delivered_seq >= job.seq or member.last_read_seq >= job.seq:
        return False  # a device acknowledged it: the user has it
    if member.muted_until is not None and member.muted_until > now:
        return False
    level = member.notifications
    return level == "all" or (level == "mentions" and job.user_id in parse_mentions(message.mentions))


def _devices_of(job: Job, devices: list[PushSubscription]) -> Iterable[PushSubscription]:
    if job.subscription_id is None:
        return devices
    return [d for d in devices if d.id == job.subscription_id]  # a retry: that device only


def _title(sender_name: str, conversation: Any) -> str:
    """Who wrote, and where: "Ana" in a direct conversation, "Ana in Trip" in a group."""
    if conversation.type == "group" and conversation.name:
        return f"{sender_name} in {conversation.name}"
    return sender_name


def _preview(body: str) -> str:
    """At most PUSH_PREVIEW_CHARS code points, cut with an ellipsis."""
    if len(body) <= PUSH_PREVIEW_CHARS:
        return body
    return body[: PUSH_PREVIEW_CHARS - 1] + "…"


# ---------------------------------------------------------------- recording


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential with jitter (1, 2, 4 ... capped at 5 minutes), never sooner
    than the push service's ``Retry-After``."""
    base = min(300.0, 2.0 ** max(0, attempt - 1))
    return max(retry_after or 0.0, base * random.uniform(0.75, 1.25))


def record(jobs: list[Job], pushes: list[Push], outcomes: list[Outcome]) -> None:
    max_attempts = current_app.config["PUSH_MAX_ATTEMPTS"]
    retries: list[Retry] = []
    gone: list[int] = []
    for push, outcome in zip(pushes, outcomes, strict=True):
        job = push.job
        if outcome.kind == "sent":
            continue
        if outcome.kind == "gone":
            gone.append(push.subscription_id)
        elif outcome.kind == "retry" and job.attempts < max_attempts:
            retries.append(Retry(job, push.subscription_id, backoff_seconds(job.attempts, outcome.retry_after)))
        else:
            log.warning("push to subscription %s dropped after %s attempts: %s %s",
                        push.subscription_id, job.attempts, outcome.status, outcome.detail)
    push_outbox.finish(jobs, retries, gone)


def _about_to_push(pushes: list[Push]) -> dict[tuple[int, int], int]:
    pushed: dict[tuple[int, int], int] = {}
    for push in pushes:
        if push.job.kind == MESSAGE:
            key = (push.job.user_id, push.job.conversation_id)
            pushed[key] = max(pushed.get(key, 0), push.job.seq)
    return pushed
