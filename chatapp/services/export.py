"""GET /me/export: everything the server holds that the user wrote or registered.

Only the user's own data: their profile, logins (labels and times, never a
secret or its hash), the conversations they are in (members by id and username),
every message they sent, anywhere, including in conversations they left
(deleted ones are listed with ``deleted: true`` and the empty body the server
keeps), their push devices' names and their uploads' metadata. Nobody else's
messages: those are the other people's data.
"""

from __future__ import annotations

from sqlalchemy import select

from ..contract import rest
from ..extensions import db
from ..models import ApiToken, Conversation, Membership, Message, PushSubscription, Upload, User
from ..models.conversation import GROUP
from ..timeutil import iso, utcnow


def export_account(user: User) -> rest.AccountExport:
    return rest.AccountExport(
        exported_at=iso(utcnow()),
        user=rest.ExportProfile(id=user.id, username=user.username, display_name=user.display_name,
                                created_at=iso(user.created_at), last_seen_at=iso(user.last_seen_at)),
        tokens=_tokens(user.id),
        conversations=_conversations(user.id),
        messages=_messages(user.id),
        push_subscriptions=[
            rest.ExportPushSubscription(id=row.id, type=row.type, device_name=row.device_name,  # type: ignore[arg-type]
                                        created_at=iso(row.created_at))
            for row in db.session.scalars(
                select(PushSubscription).where(PushSubscription.user_id == user.id).order_by(PushSubscription.id)
            )
        ],
        uploads=[
            rest.ExportUpload(id=row.id, name=row.name, content_type=row.content_type, size=row.size,
                              created_at=iso(row.created_at), message_id=row.message_id,
                              deleted=row.deleted_at is not None)
            for row in db.session.scalars(select(Upload).where(Upload.uploader_id == user.id).order_by(Upload.id))
        ],
    )


def _tokens(user_id: int) -> list[rest.ExportToken]:
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    return [
        rest.ExportToken(id=row.id, device_name=row.device_name, created_at=iso(row.created_at),
                         last_used_at=iso(row.last_used_at), revoked_at=iso(row.revoked_at))
        for row in rows
    ]


def _conversations(user_id: int) -> list[rest.ExportConversation]:
    found = db.session.scalars(
        select(Conversation).join(Membership, Membership.conversation_id == Conversation.id)
        .where(Membership.user_id == user_id).order_by(Conversation.id)
    )
    listed = []
    for conversation in found:
        members = sorted(conversation.memberships, key=lambda m: m.user_id)
        mine = next(m for m in members if m.user_id == user_id)
        listed.append(rest.ExportConversation(
            id=conversation.id, type=conversation.type, name=conversation.name,  # type: ignore[arg-type]
            role=mine.role if conversation.type == GROUP else None,  # type: ignore[arg-type]
            joined_at=iso(mine.joined_at),
            # As everyone sees them (a closed account's username is "deleted-<id>").
            members=[rest.ExportMember(id=m.user_id, username=m.user.to_object().username) for m in members],
        ))
    return listed


def _messages(user_id: int) -> list[rest.ExportMessage]:
    attached: dict[int, list[int]] = {}
    rows = db.session.execute(
        select(Upload.message_id, Upload.id)
        .where(Upload.uploader_id == user_id, Upload.message_id.is_not(None), Upload.deleted_at.is_(None))
        .order_by(Upload.message_id, Upload.position)
    )
    for message_id, upload_id in rows:
        if message_id is not None:
            attached.setdefault(message_id, []).append(upload_id)
    columns = (Message.id, Message.conversation_id, Message.seq, Message.body, Message.client_id, Message.created_at,
               Message.edited_at, Message.deleted, Message.reply_to_id)
    # Columns, not ORM objects: a long-time user may have sent hundreds of thousands.
    found = db.session.execute(select(*columns).where(Message.sender_id == user_id).order_by(Message.id))
    return [
        rest.ExportMessage(
            id=row.id, conversation_id=row.conversation_id, seq=row.seq, body=row.body, client_id=row.client_id,
            created_at=iso(row.created_at), edited_at=iso(row.edited_at), deleted=row.deleted,
            reply_to=row.reply_to_id, attachments=attached.get(row.id, []),
        )
        for row in found
    ]
