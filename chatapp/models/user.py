from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..contract import objects as contract
from ..contract.objects import as_dict
from ..extensions import Model
from ..timeutil import iso, utcnow

# How a closed account appears (PROTOCOL.md v2 "Account and safety"): "deleted-<id>".
CLOSED_USERNAME_PREFIX = "deleted-"
CLOSED_DISPLAY_NAME = "Deleted user"


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored folded to lower case: the unique index makes names case-insensitive.
    username: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    # Deactivated users cannot log in and their tokens stop working.
    active: Mapped[bool] = mapped_column(default=True)
    # Set when the owner closed the account (DELETE /me): it also has active = False,
    # and reads as "Deleted user" wherever a User appears (services/closing.py).
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def to_dict(self, online: bool = False) -> dict[str, Any]:
        """The contract's User object; presence is not stored here, so the caller passes it."""
        return as_dict(self.to_object(online))

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def to_object(self, online: bool = False) -> contract.User:
        if self.closed_at is not None:
            # PROTOCOL.md v2: a closed account reads the same everywhere, nothing of the person left.
            return contract.User(
                id=self.id, username=f"{CLOSED_USERNAME_PREFIX}{self.id}", display_name=CLOSED_DISPLAY_NAME,
                online=False, last_seen_at=None,
            )
        return contract.User(
            id=self.id, username=self.username, display_name=self.display_name, online=online,
            last_seen_at=iso(self.last_seen_at),
        )
