"""v2 push notifications: the devices registered for push, and the outbox of pushes to send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..contract import limits
from ..extensions import Model
from ..timeutil import utcnow


class PushSubscription(Model):
    """A Web Push subscription (endpoint + browser keys) or an FCM registration token.

    ``address`` is the endpoint or the token, unique: registering it again (the
    same browser after a re-login, or another user on a shared device) moves it.
    ``token_id`` is the login that registered it: revoking that login deletes it.
    """

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(limits.MAX_PUSH_ENDPOINT_CHARS), unique=True)
    p256dh: Mapped[str | None] = mapped_column(String(100))
    auth: Mapped[str | None] = mapped_column(String(40))
    device_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushJob(Model):
    """One push to send: a durable outbox row, written in the transaction of the
    change that causes it (a send, a read), so a push is never lost to a crash
    between commit and send, and never sent for a change that rolled back.

    Workers claim due rows with ``FOR UPDATE SKIP LOCKED`` (services/push_outbox.py)
    and a lease (``claimed_until``): a worker killed mid-send leaves its rows to be
    claimed again when the lease runs out. ``subscription_id`` is null for a job
    addressed to every device of the user, set on a retry of one device.
    """

    __tablename__ = "push_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "message" | "read"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("push_subscriptions.id", ondelete="CASCADE"))
    mentioned: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_push_jobs_due", "due_at"),)
