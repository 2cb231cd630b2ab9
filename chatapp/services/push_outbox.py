"""The durable queue of pushes: jobs written in the transaction of the change that
causes them, claimed by any worker with ``FOR UPDATE SKIP LOCKED`` and a lease.

Why a table and not Redis pub/sub or an in-process list: pub/sub is at-most-once
and a list dies with its worker, while a job row commits (or rolls back) with the
message itself. Claiming is one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
SKIP LOCKED) RETURNING``: two workers never take the same job, and neither
waits for the other. A claim is a lease: a worker killed mid-send leaves its
jobs to be claimed again once ``claimed_until`` passes (at least once across a
crash; the push's ``Topic`` makes a repeat replace the first on the device).
SQLite ignores ``FOR UPDATE``; its single writer lock serialises claims instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from ..extensions import db
from ..models import Membership, PushJob, PushSubscription
from ..prepared import Prepared
from ..timeutil import utcnow

MESSAGE = "message"
READ = "read"

_HAS_DEVICE = exists().where(PushSubscription.user_id == Membership.user_id)
_NOW = bindparam("p_now", type_=DateTime)
_UNMUTED = or_(Membership.muted_until.is_(None), Membership.muted_until <= _NOW)
_COLUMNS = ["kind", "user_id", "conversation_id", "seq", "message_id", "mentioned", "attempts", "due_at", "created_at"]


def _message_jobs(mentioned: bool) -> Any:
    """INSERT ... SELECT: one statement per send, whatever the member count, and
    nothing written for members without a device or whose level is quiet."""
    every = Membership.notifications == "all"
    if mentioned:
        named: Any = Membership.user_id.in_(bindparam("p_mentioned", expanding=True))
        level = or_(every, and_(Membership.notifications == "mentions", named))
    else:
        named, level = false(), every
    # Typed parameters: the statement also runs prepared (chatapp/prepared.py).
    source = select(
        literal(MESSAGE), Membership.user_id, Membership.conversation_id, bindparam("p_seq", type_=Integer),
        bindparam("p_mid", type_=Integer), named, literal(0), bindparam("p_due", type_=DateTime), _NOW,
    ).where(
        Membership.conversation_id == bindparam("p_cid", type_=Integer),
        Membership.user_id != bindparam("p_sender", type_=Integer),
        level,
        _UNMUTED,
        _HAS_DEVICE,
    )
    return insert(PushJob).from_select(_COLUMNS, source)


MESSAGE_JOBS = Prepared(_message_jobs(mentioned=False))
_MESSAGE_JOBS_MENTIONED = _message_jobs(mentioned=True)  # a list parameter: through Connection.execute


def message_job_values(conversation_id: int, seq: int, message_id: int, sender_id: int,
                       now: datetime) -> dict[str, Any]:
    """The parameters of ``MESSAGE_JOBS`` (the send path may run it with its next
    statement in one round trip: ``Prepared.run_after``)."""
    return {
        "p_cid": conversation_id, "p_seq": seq, "p_mid": message_id, "p_sender": sender_id, "p_now": now,
        "p_due": due_at(now),
    }


def due_at(now: datetime) -> datetime:
    """When a message push queued at ``now`` becomes due (``PUSH_DELAY_SECONDS`` later)."""
    return now + timedelta(seconds=current_app.config["PUSH_DELAY_SECONDS"])


def enqueue_message(connection: Connection, conversation_id: int, seq: int, message_id: int, sender_id: int,
                    mentioned: list[int], now: datetime) -> None:
    """Queue a push of a new message to each recipient whose level allows it (in
    the send's transaction). It becomes due after ``PUSH_DELAY_SECONDS``: a device
    that is listening acknowledges ``delivered`` within that time and is not pushed."""
    params = message_job_values(conversation_id, seq, message_id, sender_id, now)
    if mentioned:
        connection.execute(_MESSAGE_JOBS_MENTIONED, {**params, "p_mentioned": mentioned})
    else:
        MESSAGE_JOBS.run(connection, params)


# A message push in flight (claimed, not yet recorded) counts as pushed: the
# read may overtake it, and the notification it is about to show must go too.
_IN_FLIGHT = (
    exists()
    .where(PushJob.kind == MESSAGE, PushJob.user_id == Membership.user_id,
           PushJob.conversation_id == Membership.conversation_id, PushJob.claimed_until.is_not(None),
           PushJob.seq <= bindparam("p_seq"))
    .correlate(Membership)
)
_READ_JOB = insert(PushJob).from_select(
    _COLUMNS,
    select(
        literal(READ), Membership.user_id, Membership.conversation_id, bindparam("p_seq"), literal(None),
        false(), literal(0), bindparam("p_now"), bindparam("p_now"),
    ).where(
        Membership.conversation_id == bindparam("p_cid"),
        Membership.user_id == bindparam("p_uid"),
        or_(
            and_(Membership.pushed_seq <= bindparam("p_seq"), Membership.pushed_seq > bindparam("p_before")),
            _IN_FLIGHT,
        ),
        _HAS_DEVICE,
    ),
)


def enqueue_read(user_id: int, conversation_id: int, seq: int, read_before: int) -> None:
    """Queue the ``read`` push that dismisses the notification, when a push told
    this user about a message between their old and new read positions."""
    db.session.connection().execute(
        _READ_JOB,
        {"p_uid": user_id, "p_cid": conversation_id, "p_seq": seq, "p_before": read_before, "p_now": utcnow()},
    )


# ---------------------------------------------------------------- claiming


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    user_id: int
    conversation_id: int
    seq: int
    message_id: int | None
    subscription_id: int | None
    mentioned: bool
    attempts: int


def claim(limit: int, lease_seconds: float) -> list[Job]:
    """Take up to ``limit`` due jobs for this worker and commit the claim."""
    now = utcnow()
    is_due = and_(PushJob.due_at <= now, or_(PushJob.claimed_until.is_(None), PushJob.claimed_until < now))
    # A read first: an idle loop polls every PUSH_POLL_SECONDS, and an UPDATE that
    # matches nothing would still take SQLite's write lock from the senders.
    if db.session.execute(select(PushJob.id).where(is_due).limit(1)).first() is None:
        db.session.rollback()
        return []
    due = select(PushJob.id).where(is_due).order_by(PushJob.due_at, PushJob.id).limit(limit).with_for_update(
        skip_locked=True
    )
    stmt = (
        update(PushJob)
        .where(PushJob.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + timedelta(seconds=lease_seconds), attempts=PushJob.attempts + 1)
        .returning(
            PushJob.id, PushJob.kind, PushJob.user_id, PushJob.conversation_id, PushJob.seq, PushJob.message_id,
            PushJob.subscription_id, PushJob.mentioned, PushJob.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(stmt).all()
    db.session.commit()
    return [Job(**row._asdict()) for row in rows]


@dataclass(frozen=True)
class Retry:
    job: Job
    subscription_id: int
    after_seconds: float


# Pre-built and run once with a list of parameters (executemany): it ran once per
# push in every batch and was the largest cost of delivery (bench/results/push.md).
_MARK_PUSHED = (
    update(Membership)
    .where(Membership.user_id == bindparam("p_uid"), Membership.conversation_id == bindparam("p_cid"),
           Membership.pushed_seq < bindparam("p_seq"))
    .values(pushed_seq=bindparam("p_seq"))
)


def mark_pushed(pushed: dict[tuple[int, int], int]) -> None:
    """Remember, before sending, what each (user, conversation) is about to be told
    about: a read from now on sends the ``read`` push (one too many if the push
    then fails: harmless, it closes nothing)."""
    if pushed:
        db.session.connection().execute(
            _MARK_PUSHED, [{"p_uid": uid, "p_cid": cid, "p_seq": seq} for (uid, cid), seq in pushed.items()]
        )
    db.session.commit()


def finish(done: list[Job], retries: list[Retry], gone: list[int]) -> None:
    """Record a batch's outcome in one transaction: the jobs are deleted, one job
    per device to retry is queued, subscriptions the push service called gone are deleted."""
    now = utcnow()
    if retries:
        db.session.execute(
            insert(PushJob),
            [
                {"kind": r.job.kind, "user_id": r.job.user_id, "conversation_id": r.job.conversation_id,
                 "seq": r.job.seq, "message_id": r.job.message_id, "subscription_id": r.subscription_id,
                 "mentioned": r.job.mentioned, "attempts": r.job.attempts,
                 "due_at": now + timedelta(seconds=r.after_seconds), "created_at": now}
                for r in retries
            ],
        )
    if gone:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    if done:
        db.session.execute(delete(PushJob).where(PushJob.id.in_([job.id for job in done])))
    db.session.commit()


def pending_count() -> int:
    """Jobs not yet sent (for metrics and tests)."""
    return db.session.scalar(select(func.count()).select_from(PushJob)) or 0
