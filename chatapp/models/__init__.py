"""Typed SQLAlchemy models. Transport-free: no Flask request, no emit."""

from . import search  # noqa: F401  (the message search index: DDL hooks on the messages table)
from .conversation import Conversation, Departure, Membership
from .message import Message, MessageMention, Reaction
from .push import PushJob, PushSubscription
from .safety import Block, Report
from .token import ApiToken
from .upload import Upload, UploadChunk
from .user import User

__all__ = [
    "ApiToken", "Block", "Conversation", "Departure", "Membership", "Message", "MessageMention", "PushJob",
    "PushSubscription", "Reaction", "Report", "Upload", "UploadChunk", "User",
]
