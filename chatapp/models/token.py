from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from ..timeutil import iso, utcnow


class ApiToken(Model):
    """An opaque bearer token (or the server side of a browser session).

    Only the SHA-256 of the token is stored: a database leak yields no usable token.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self, current: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "device_name": self.device_name,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "current": current,
        }
