"""Typed SQLAlchemy models. Transport-free: no Flask request, no emit."""

from .conversation import Conversation, Membership
from .message import Message, Reaction
from .token import ApiToken
from .user import User

__all__ = ["ApiToken", "Conversation", "Membership", "Message", "Reaction", "User"]
