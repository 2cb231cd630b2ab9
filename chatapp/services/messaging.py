"""Messages: send (idempotent by client_id), edit, delete, react, history, sync."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

from flask import current_app
from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..contract import events as contract_events
from ..contract import objects as contract
from ..contract.limits import MANAGERS
from ..contract.objects import as_dict
from ..extensions import db
from ..models import Conversation, Membership, Message, Reaction, User
from ..models.message import message_object, parse_mentions, reply_preview, store_mentions
from ..prepared import Prepared
from ..rows import by_name
from ..timeutil import iso, utcnow
from . import blocks, events, group_commit, mentions, one_trip_send, push_outbox, ratelimit, uploads, versions
from .conversations import get_member, get_visible, member_ids, readable_id
from .errors import ChatError, Conflict, Forbidden, NotFound, ValidationError, field_error
from .validation import clamp_limit, entity_id, integer, string, text, visible
from .validation import client_id as parse_client_id


def _body(value: object, *, may_be_empty: bool = False) -> str:
    """1-MAX_BODY_CHARS after trimming; empty allowed for a message with attachments."""
    return text(value, "body", max_chars=current_app.config["MAX_BODY_CHARS"], min_chars=0 if may_be_empty else 1)


# ---------------------------------------------------------------- send


# The send path is the hot path (thousands per second): pre-built Core
# statements, compiled once per dialect and run on the DBAPI cursor
# (chatapp/prepared.py), no ORM unit of work.
_MESSAGES = cast(Table, Message.__table__)  # a mapped class's __table__ is its Table
_MEMBERSHIPS = cast(Table, Membership.__table__)
_CID = bindparam("p_cid", type_=Integer)
_UID = bindparam("p_uid", type_=Integer)
_NOW = bindparam("p_now", type_=DateTime)
# The sender's standing and, in the same statement, a message already sent with
# this client_id (an idempotent resend answers the original).
_ORIGINAL_ID = (
    select(_MESSAGES.c.id)
    .where(_MESSAGES.c.conversation_id == _CID, _MESSAGES.c.sender_id == _UID,
           _MESSAGES.c.client_id == bindparam("p_key", type_=String))
    .scalar_subquery()
)
_SENDER_STATE = Prepared(
    select(Conversation.posting, Membership.role, Membership.last_read_seq, Conversation.direct_key, _ORIGINAL_ID)
    .join(Membership, Membership.conversation_id == Conversation.id)
    .where(Conversation.id == _CID, Membership.user_id == _UID)
)
# Allocate the seq and the version inside this transaction: the row update
# serialises concurrent senders, and a rollback returns both numbers (no gaps).
_NEXT_SEQ = Prepared(
    update(Conversation)
    .where(Conversation.id == _CID)
    .values(last_seq=Conversation.last_seq + 1, version=Conversation.version + 1, updated_at=_NOW)
    .returning(Conversation.last_seq, Conversation.version, Conversation.posting)
)
_ROW = ("conversation_id", "seq", "sender_id", "body", "client_id", "created_at", "deleted", "version", "mentions",
        "reply_to_id")
_INSERT = Prepared(
    insert(_MESSAGES)
    .values({**{name: bindparam(name, type_=_MESSAGES.c[name].type) for name in _ROW}, "edited_at": None})
    .returning(_MESSAGES.c.id)
)
# Every other member gains one unread; RETURNING names the recipients too.
_RECIPIENTS = (Membership.conversation_id == _CID, Membership.user_id != _UID)
_BUMP_UNREAD = Prepared(
    update(Membership)
    .where(*_RECIPIENTS)
    .values(unread_count=Membership.unread_count + 1)
    .returning(Membership.user_id, Membership.unread_count, Membership.unread_mentions)
)
# The same when the body names members: they gain an unread mention too.
_BUMP_UNREAD_MENTIONED = (
    update(Membership)
    .where(*_RECIPIENTS)
    .values(
        unread_count=Membership.unread_count + 1,
        unread_mentions=Membership.unread_mentions
        + case((Membership.user_id.in_(bindparam("p_mentioned", expanding=True)), 1), else_=0),
    )
    .returning(Membership.user_id, Membership.unread_count, Membership.unread_mentions)
)
# Sending marks the sender as having read (and received) up to their own message.
# Run under the conversation's lock, it also re-reads the sender's membership:
# no row means they were removed (or left) while this send waited for the lock.
_SEQ = bindparam("p_seq", type_=Integer)
_SENDER_READ = Prepared(
    update(Membership)
    .where(Membership.conversation_id == _CID, Membership.user_id == _UID)
    .values(last_read_seq=_SEQ, delivered_seq=_SEQ, unread_count=0, unread_mentions=0)
    .returning(Membership.role)
)
# The total unread of every member of the conversation (the badge of each
# ``unread``): one statement, no list parameter.
_CO_MEMBERS = _MEMBERSHIPS.alias("co_member")
_TOTALS = Prepared(
    select(_MEMBERSHIPS.c.user_id, func.sum(_MEMBERSHIPS.c.unread_count))
    .where(_MEMBERSHIPS.c.user_id.in_(select(_CO_MEMBERS.c.user_id).where(_CO_MEMBERS.c.conversation_id == _CID)))
    .group_by(_MEMBERSHIPS.c.user_id)
)


# What a reply's quote shows of its original (models.message.reply_preview).
_QUOTE_COLUMNS = (_MESSAGES.c.id, _MESSAGES.c.seq, _MESSAGES.c.sender_id, _MESSAGES.c.body, _MESSAGES.c.deleted)
_QUOTED = select(*_QUOTE_COLUMNS).where(
    _MESSAGES.c.id == bindparam("p_mid", type_=Integer), _MESSAGES.c.conversation_id == _CID
)
# The same statements, run inside PostgreSQL in one round trip (services/one_trip_send.py).
ONE_TRIP_STATEMENTS = one_trip_send.Statements(
    sender_state=_SENDER_STATE.statement, direct_refused=blocks.DIRECT_REFUSED, quoted=_QUOTED,
    next_seq=_NEXT_SEQ.statement, sender_read=_SENDER_READ.statement, insert=_INSERT.statement,
    message_jobs=push_outbox.MESSAGE_JOBS.statement, bump_unread=_BUMP_UNREAD.statement, totals=_TOTALS.statement,
)


def send_message(
    sender: User, conversation_id: object, body: object, client_id: object, *, reply_to: object = None,
    attachments: object = None,
) -> tuple[dict[str, Any], bool]:
    """Persist and fan out a message. Returns (message, created); a repeated
    ``client_id`` from the same sender returns the original and emits nothing.
    ``attachments``: upload ids of the sender's (services/uploads.py); the body may
    then be empty (a captionless photo)."""
    cid = entity_id(conversation_id, "conversation_id")
    upload_ids = [] if attachments is None else attachments
    text_body = _body(body, may_be_empty=upload_ids != [])
    key = parse_client_id(client_id)
    quoted_id = None if reply_to is None else entity_id(reply_to, "reply_to")
    # Sends that wait together share one commit (services/group_commit.py).
    return group_commit.run(cid, lambda: _store(sender, cid, text_body, key, quoted_id, upload_ids))


def _store(
    sender: User, cid: int, text_body: str, key: str, quoted_id: int | None, upload_ids: Any
) -> tuple[dict[str, Any], bool]:
    """The send's unit of work: decide, write, queue its events, commit (alone)."""
    conn = db.session.connection()
    if upload_ids == [] and one_trip_send.available(conn) and not mentions.candidates(text_body):
        return _store_in_one_trip(conn, sender, cid, text_body, key, quoted_id)
    state = _SENDER_STATE.first(conn, {"p_cid": cid, "p_uid": sender.id, "p_key": key})
    if state is None:
        _refuse_non_member(sender, cid)
    role: str | None
    posting, role, last_read_seq, direct_key, original_id = state
    if original_id is not None:
        return db.session.get_one(Message, original_id).to_dict(), False
    if posting == "admins" and role not in MANAGERS:
        _refuse_admins_only()
    if direct_key is not None:
        # Direct conversations only (groups pay nothing): a blocked pair, or a closed account.
        if posting == blocks.NOBODY_POSTS:
            blocks.refuse_direct_send()
        blocks.check_direct_send(conn, sender.id, direct_key)
    quoted = None
    if quoted_id is not None:
        quoted = conn.execute(_QUOTED, {"p_mid": quoted_id, "p_cid": cid}).first()
        if quoted is None:
            _refuse_reply(one_trip_send.REPLY_MISSING)
        if quoted.deleted:
            _refuse_reply(one_trip_send.REPLY_DELETED)
    ratelimit.check_message(sender.id)
    now = utcnow()
    try:
        seq, version, posting = _NEXT_SEQ.first(conn, {"p_cid": cid, "p_now": now})
        # Decided again under the lock the seq update took (services/versions.py):
        # a sender removed, demoted or silenced meanwhile does not post after it.
        role = _SENDER_READ.scalar(conn, {"p_cid": cid, "p_uid": sender.id, "p_seq": seq})
        if role is None:
            group_commit.discard()
            _refuse_non_member(sender, cid)  # the precise error, from the committed state
        if posting == "admins" and role not in MANAGERS:
            group_commit.discard()
            _refuse_admins_only()
        if posting == blocks.NOBODY_POSTS:
            group_commit.discard()  # the other closed their account meanwhile
            blocks.refuse_direct_send()
        # Under the lock: exactly the members of this moment.
        mentioned = mentions.members_named(cid, text_body)
        row = {"conversation_id": cid, "seq": seq, "sender_id": sender.id, "body": text_body, "client_id": key,
               "created_at": now, "deleted": False, "version": version, "mentions": store_mentions(mentioned),
               "reply_to_id": quoted_id}
        message_id = _INSERT.scalar(conn, row)
        try:
            attached = uploads.attach(sender.id, cid, message_id, upload_ids) if upload_ids != [] else []
        except ChatError:
            group_commit.discard()  # nothing of this send is kept: no message, no seq, no version
            raise
    except IntegrityError as error:
        return _resent_meanwhile(sender, cid, key, error)
    bump_params: dict[str, Any] = {"p_cid": cid, "p_uid": sender.id}
    if mentioned:
        mentions.record(cid, message_id, seq, mentioned)
        bump_params["p_mentioned"] = mentioned
    if mentioned:
        bumped = conn.execute(_BUMP_UNREAD_MENTIONED, bump_params).all()
        push_outbox.enqueue_message(conn, cid, seq, message_id, sender.id, mentioned, now)
    else:
        # The push jobs (independent of the counts), then the bump: one round trip on PostgreSQL.
        jobs = push_outbox.message_job_values(cid, seq, message_id, sender.id, now)
        bumped = _BUMP_UNREAD.run_after(conn, push_outbox.MESSAGE_JOBS, jobs, bump_params).fetchall()
    message = contract.Message(
        id=message_id, conversation_id=cid, seq=seq, sender_id=sender.id, body=text_body, client_id=key,
        created_at=iso(now), edited_at=None, deleted=False, reactions={}, version=version, mentions=mentioned,
        reply_to=reply_preview(quoted), attachments=attached,
    )
    counts = {uid: (count, mentioned_count) for uid, count, mentioned_count in bumped}
    return _announce(message, sender.id, last_read_seq, counts, lambda: dict(_TOTALS.all(conn, {"p_cid": cid})))


def _store_in_one_trip(
    conn: Connection, sender: User, cid: int, text_body: str, key: str, quoted_id: int | None
) -> tuple[dict[str, Any], bool]:
    """``_store`` for a plain send on PostgreSQL: the same statements in one round
    trip (services/one_trip_send.py), then the same events and commit."""
    now = utcnow()
    try:
        outcome = one_trip_send.send(conn, cid, sender.id, key, text_body, now, push_outbox.due_at(now), quoted_id)
    except IntegrityError as error:
        return _resent_meanwhile(sender, cid, key, error)
    if outcome.status == one_trip_send.ORIGINAL:
        return db.session.get_one(Message, outcome.original_id).to_dict(), False
    if outcome.status != one_trip_send.OK:
        _refuse_in_one_trip(sender, cid, outcome.status)
    try:
        ratelimit.check_message(sender.id)
    except ChatError:
        group_commit.discard()  # the function's writes: no message, no seq, no version
        raise
    seq, version = cast(int, outcome.seq), cast(int, outcome.version)
    message = contract.Message(
        id=cast(int, outcome.message_id), conversation_id=cid, seq=seq, sender_id=sender.id, body=text_body,
        client_id=key, created_at=iso(now), edited_at=None, deleted=False, reactions={}, version=version,
        mentions=[], reply_to=reply_preview(outcome.quote), attachments=[],
    )
    counts = dict(zip(outcome.recipients, zip(outcome.unread, outcome.unread_mentions, strict=True), strict=True))
    totals = dict(zip(outcome.total_users, outcome.totals, strict=True))
    return _announce(message, sender.id, cast(int, outcome.last_read_seq), counts, lambda: totals)


def _refuse_in_one_trip(sender: User, cid: int, status: str) -> NoReturn:
    """The Python path's error for each refusal the function answers with."""
    if status.endswith(one_trip_send.AFTER_WRITES):
        group_commit.discard()  # decided under the lock, after the seq and the read were written
        status = status.removesuffix(one_trip_send.AFTER_WRITES)
    if status == one_trip_send.NOT_MEMBER:
        _refuse_non_member(sender, cid)
    if status == one_trip_send.ADMINS_ONLY:
        _refuse_admins_only()
    if status == one_trip_send.REFUSED:
        blocks.refuse_direct_send()
    _refuse_reply(status)


def _refuse_non_member(sender: User, cid: int) -> NoReturn:
    get_member(sender, cid)  # raises the precise error: not_found, or forbidden for a public room
    raise NotFound("no such conversation")


def _refuse_admins_only() -> NoReturn:
    raise Forbidden("only admins may post in this room")


_REPLY_REFUSALS = {
    one_trip_send.REPLY_MISSING: "no such message in this conversation",
    one_trip_send.REPLY_DELETED: "the message was deleted",
}


def _refuse_reply(status: str) -> NoReturn:
    raise field_error("reply_to", _REPLY_REFUSALS[status])


def _resent_meanwhile(sender: User, cid: int, key: str, error: IntegrityError) -> tuple[dict[str, Any], bool]:
    """A concurrent resend with the same client_id won the race: answer its message."""
    group_commit.discard()
    original = _find_by_client_id(cid, sender.id, key)
    if original is None:
        raise error  # not a duplicate after all
    return original.to_dict(), False


def _announce(
    message: contract.Message, sender_id: int, last_read_seq: int, counts: dict[int, tuple[int, int]],
    totals_of: Callable[[], dict[int, int]],
) -> tuple[dict[str, Any], bool]:
    """Queue a stored message's events (sent after the commit) and end the send:
    ``message:new`` to every member, each recipient's ``unread`` (``counts``: their
    unread and unread mentions), and the sender's read receipt and cleared badge
    when they had unread messages before this one."""
    cid, seq = message.conversation_id, message.seq
    members = [*counts, sender_id]
    # The ack carries the very dict the event does: one conversion per send.
    data = events.on_commit(contract_events.MessageNew(message=message), users=members)["message"]
    had_unread = last_read_seq < seq - 1
    notify = bool(counts) or had_unread
    totals = totals_of() if notify else {}
    # Each recipient's own counts, queued as one fan-out (a room message has 99).
    events.on_commit_each(
        (uid, contract_events.Unread(conversation_id=cid, unread_count=count, total_unread=int(totals.get(uid, 0)),
                                     unread_mentions=mentioned_count))
        for uid, (count, mentioned_count) in counts.items()
    )
    if had_unread:
        receipt = contract_events.Read(conversation_id=cid, user_id=sender_id, seq=seq, version=message.version)
        events.on_commit(receipt, users=members)
        total = int(totals.get(sender_id, 0))
        badge = contract_events.Unread(conversation_id=cid, unread_count=0, total_unread=total, unread_mentions=0)
        events.on_commit(badge, users=[sender_id])
    group_commit.finish()
    return data, True


def _find_by_client_id(conversation_id: int, sender_id: int, key: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.sender_id == sender_id, Message.client_id == key
        )
    )


def _queue_unread(conversation_id: int, user_ids: list[int]) -> None:
    """``unread`` to each user's devices, with the conversation and total counts."""
    if not user_ids:
        return
    rows = db.session.execute(
        select(
            Membership.user_id, Membership.conversation_id, Membership.unread_count, Membership.unread_mentions
        ).where(Membership.user_id.in_(user_ids))
    )
    totals: dict[int, int] = dict.fromkeys(user_ids, 0)
    this: dict[int, tuple[int, int]] = dict.fromkeys(user_ids, (0, 0))
    for uid, conv_id, count, mentioned in rows:
        totals[uid] += count
        if conv_id == conversation_id:
            this[uid] = (count, mentioned)
    events.on_commit_each(
        (uid, contract_events.Unread(conversation_id=conversation_id, unread_count=this[uid][0],
                                     total_unread=totals[uid], unread_mentions=this[uid][1]))
        for uid in user_ids
    )


# ---------------------------------------------------------------- edit, delete, react


def _message_for(user: User, message_id: object) -> tuple[Message, Conversation, Membership | None]:
    mid = entity_id(message_id, "message_id")
    message = db.session.get(Message, mid)
    if message is None:
        raise NotFound("no such message")
    try:
        conversation, member = get_visible(user, message.conversation_id)
    except NotFound:
        raise NotFound("no such message") from None
    return message, conversation, member


def readable_message(user: User, message_id: object) -> Message:
    """The message if ``user`` may read it (a member, or a public room's reader), else not_found."""
    return _message_for(user, message_id)[0]


def edit_message(user: User, message_id: object, body: object) -> dict[str, Any]:
    message, conversation, member = _message_for(user, message_id)
    new_body = _body(body)
    if member is None:
        # A public room's history is readable by anyone, editable by members only
        # (someone who left keeps no power over the room).
        raise Forbidden("join this room first")
    if message.sender_id != user.id:
        raise Forbidden("only the sender may edit a message")
    if message.deleted:
        raise Conflict("the message was deleted")
    if new_body == message.body:
        return message.to_dict()
    ratelimit.check_edit(user.id)
    version = _lock_message(message)
    if message.deleted:
        # A delete committed while this edit waited for the lock: the text stays gone.
        raise Conflict("the message was deleted")
    if new_body == message.body:
        db.session.rollback()
        return message.to_dict()
    message.body = new_body
    message.edited_at = utcnow()
    message.version = version
    changed_mentions = _remention(message, conversation.id)
    db.session.flush()
    update_event = contract_events.MessageUpdated(message=message.to_object())
    data: dict[str, Any] = events.on_commit(update_event, users=member_ids(conversation))["message"]
    _requote(message, conversation)
    _queue_unread(conversation.id, changed_mentions)
    db.session.commit()
    return data


def _remention(message: Message, conversation_id: int) -> list[int]:
    """Mentions follow the current text: re-parse an edited body, move the
    counting rows, and adjust ``unread_mentions`` of the members who have not read
    the message yet. Returns those whose count changed (they get ``unread``).
    Edits never push: a notification for an old message would only confuse."""
    before = set(parse_mentions(message.mentions))
    after = mentions.members_named(conversation_id, message.body)
    if before == set(after):
        return []
    message.mentions = store_mentions(after)
    mentions.forget(message.id)
    mentions.record(conversation_id, message.id, message.seq, after)
    changed: list[int] = []
    unread_by = db.session.execute(
        select(Membership.user_id, Membership.last_read_seq).where(
            Membership.conversation_id == conversation_id,
            Membership.user_id.in_(before.symmetric_difference(after) - {message.sender_id}),
            Membership.last_read_seq < message.seq,
        )
    ).all()
    for uid, last_read_seq in unread_by:
        # Recounted, not incremented: exact whatever happened before (under the lock).
        db.session.execute(
            update(Membership)
            .where(Membership.conversation_id == conversation_id, Membership.user_id == uid)
            .values(unread_mentions=mentions.count_unread(conversation_id, uid, last_read_seq))
        )
        changed.append(uid)
    return sorted(changed)


def _requote(original: Message, conversation: Conversation) -> None:
    """The replies quoting ``original`` show it as it is now: each takes a version
    of its own (after the original's, under the same lock), so ``sync`` hands it back
    in ``changes`` and a page never splits one version, and members get
    ``message:updated`` with the new quote. Deleted replies quote nothing."""
    replies = list(db.session.scalars(
        select(Message).where(Message.reply_to_id == original.id, Message.deleted.is_(False)).order_by(Message.id)
    ))
    if not replies:
        return
    last = versions.bump(conversation.id, by=len(replies))
    members = member_ids(conversation)
    for offset, reply in enumerate(replies, start=last - len(replies) + 1):
        reply.version = offset
        reply.reply_to = original
    db.session.flush()
    for reply in replies:
        events.on_commit(contract_events.MessageUpdated(message=reply.to_object()), users=members)


def _lock_message(message: Message) -> int:
    """Lock the message's conversation (allocating the change's version), then
    re-read the message: a decision taken from now on sees every change that
    committed before, and blocks every change after (services/versions.py)."""
    version = versions.bump(message.conversation_id)
    db.session.refresh(message)
    return version


def delete_message(user: User, message_id: object) -> None:
    """Soft delete: the message keeps its id and seq; deleting twice is a no-op."""
    message, conversation, member = _message_for(user, message_id)
    if member is None:
        raise Forbidden("join this room first")
    if message.sender_id != user.id:
        is_manager = conversation.type == "group" and member is not None and member.role in MANAGERS
        if not is_manager:
            raise Forbidden("only the sender or a group admin may delete this message")
    if message.deleted:
        return
    version = _lock_message(message)
    if message.deleted:
        # Deleted by someone else meanwhile: a second delete changes nothing
        # (and must not decrement anyone's unread count again). (_lock_message
        # re-read the row; mypy still holds the narrowing from before the lock.)
        db.session.rollback()  # type: ignore[unreachable]
        return
    mentioned = set(parse_mentions(message.mentions))
    message.deleted = True
    message.body = ""
    message.mentions = None
    message.version = version
    mentions.forget(message.id)
    uploads.detach_deleted(message.id)  # its files are not_found from this commit on, their bytes purged
    db.session.execute(delete(Reaction).where(Reaction.message_id == message.id))
    db.session.expire(message, ["reactions"])
    # Deleted messages do not count as unread (counted under the lock).
    affected = list(
        db.session.scalars(
            select(Membership.user_id).where(
                Membership.conversation_id == conversation.id,
                Membership.user_id != message.sender_id,
                Membership.last_read_seq < message.seq,
                Membership.unread_count > 0,
            )
        )
    )
    if affected:
        lose_mention = mentioned.intersection(affected)
        db.session.execute(
            update(Membership)
            .where(Membership.conversation_id == conversation.id, Membership.user_id.in_(affected))
            .values(
                unread_count=Membership.unread_count - 1,
                unread_mentions=Membership.unread_mentions
                - case((Membership.user_id.in_(lose_mention), 1), else_=0) if lose_mention
                else Membership.unread_mentions,
            )
        )
    db.session.flush()
    deleted = contract_events.MessageDeleted(
        conversation_id=conversation.id, message_id=message.id, seq=message.seq, version=version
    )
    events.on_commit(deleted, users=member_ids(conversation))
    _requote(message, conversation)
    _queue_unread(conversation.id, affected)
    db.session.commit()


def _emoji(value: object) -> str:
    emoji = string(value, "emoji")
    assert emoji is not None
    emoji = emoji.strip()
    too_long = not 1 <= len(emoji) <= current_app.config["MAX_EMOJI_CHARS"]
    if too_long or any(ch.isspace() for ch in emoji) or not visible(emoji):
        raise field_error("emoji", "1 to 16 visible characters without spaces")
    return emoji


def react(user: User, message_id: object, emoji: object, *, add: bool) -> dict[str, Any]:
    message, conversation, member = _message_for(user, message_id)
    key = _emoji(emoji)
    if member is None:
        raise Forbidden("join this room first")
    if message.deleted:
        raise Conflict("the message was deleted")
    if add == (_find_reaction(message, user.id, key) is not None):
        return message.to_dict()  # nothing to change: no lock, no version
    if add:
        # Refused before the lock too: a script piling reactions on past the cap
        # must not queue every change of the conversation behind its refusals.
        _check_reaction_limits(message, user.id, key)
    ratelimit.check_reaction(user.id)  # toggling one emoji broadcasts every time
    version = _lock_message(message)
    if message.deleted:
        raise Conflict("the message was deleted")
    existing = _find_reaction(message, user.id, key)
    if add and existing is None:
        _check_reaction_limits(message, user.id, key)
        message.reactions.append(Reaction(user_id=user.id, emoji=key, created_at=utcnow()))
    elif not add and existing is not None:
        message.reactions.remove(existing)
    else:
        db.session.rollback()  # the same change committed meanwhile
        return message.to_dict()
    message.version = version
    db.session.flush()
    update_event = contract_events.MessageUpdated(message=message.to_object())
    data: dict[str, Any] = events.on_commit(update_event, users=member_ids(conversation))["message"]
    db.session.commit()
    return data


def _find_reaction(message: Message, user_id: int, emoji: str) -> Reaction | None:
    return next((r for r in message.reactions if r.user_id == user_id and r.emoji == emoji), None)


def _check_reaction_limits(message: Message, user_id: int, emoji: str) -> None:
    """Bound what one message can carry: every reaction is broadcast and sits in
    every history page that holds the message. A kind already there can always
    be joined (at the cap, the next person can still add their 👍)."""
    cfg = current_app.config
    if sum(1 for r in message.reactions if r.user_id == user_id) >= cfg["MAX_REACTIONS_PER_USER"]:
        raise ValidationError(
            f"at most {cfg['MAX_REACTIONS_PER_USER']} reactions per person on one message",
            fields={"emoji": "too many reactions"},
        )
    emojis = {r.emoji for r in message.reactions}
    if emoji not in emojis and len(emojis) >= cfg["MAX_REACTION_KINDS"]:
        raise ValidationError(
            f"at most {cfg['MAX_REACTION_KINDS']} different reactions on one message",
            fields={"emoji": "too many different reactions"},
        )


# ---------------------------------------------------------------- read paths


# Keyset pagination on the (conversation_id, seq) unique index, never OFFSET;
# pre-built Core statements, no ORM objects: this is the scroll-back hot path.
_IN_CONVERSATION = _MESSAGES.c.conversation_id == bindparam("p_cid")
_PAGE_LIMIT = bindparam("p_limit", type_=Integer)
_PAGE_LATEST = select(*_MESSAGES.c).where(_IN_CONVERSATION).order_by(_MESSAGES.c.seq.desc()).limit(_PAGE_LIMIT)
_PAGE_BEFORE = (
    select(*_MESSAGES.c)
    .where(_IN_CONVERSATION, _MESSAGES.c.seq < bindparam("p_seq"))
    .order_by(_MESSAGES.c.seq.desc())
    .limit(_PAGE_LIMIT)
)
_PAGE_AFTER = (
    select(*_MESSAGES.c)
    .where(_IN_CONVERSATION, _MESSAGES.c.seq > bindparam("p_seq"))
    .order_by(_MESSAGES.c.seq)
    .limit(_PAGE_LIMIT)
)


def history(
    user: User, conversation_id: object, before: object, after: object, limit: object
) -> tuple[list[dict[str, Any]], bool]:
    """A page in ascending seq: before a seq, after a seq, or the latest."""
    cfg = current_app.config
    before_seq = integer(before, "before", minimum=0, required=False)
    after_seq = integer(after, "after", minimum=0, required=False)
    if before_seq is not None and after_seq is not None:
        raise ValidationError("use before or after, not both", fields={"before": "conflicts with after"})
    count = clamp_limit(limit, cfg["HISTORY_DEFAULT_LIMIT"], cfg["HISTORY_MAX_LIMIT"])
    cid = readable_id(user, conversation_id)
    if after_seq is not None:
        stmt, params = _PAGE_AFTER, {"p_seq": after_seq}
    elif before_seq is not None:
        stmt, params = _PAGE_BEFORE, {"p_seq": before_seq}
    else:
        stmt, params = _PAGE_LATEST, {}
    rows = db.session.connection().execute(stmt, {"p_cid": cid, "p_limit": count + 1, **params}).all()
    page = list(rows[:count])
    if after_seq is None:
        page.reverse()
    span = (cid, page[0].seq, page[-1].seq) if page else None
    return rows_to_dicts(page, span), len(rows) > count


_REACTIONS = cast(Table, Reaction.__table__)
_REACTION_COLUMNS = (_REACTIONS.c.message_id, _REACTIONS.c.emoji, _REACTIONS.c.user_id)
_REACTIONS_OF = (
    select(*_REACTION_COLUMNS)
    .where(_REACTIONS.c.message_id.in_(bindparam("p_ids", expanding=True)))
    .order_by(_REACTIONS.c.created_at)
)
# A history page is every message of one conversation between two seqs, so its
# reactions are found by that span: a prepared statement without a list
# parameter (an IN list is re-rendered at every execution).
_REACTIONS_IN_SPAN = Prepared(
    select(*_REACTION_COLUMNS)
    .join_from(_REACTIONS, _MESSAGES, _MESSAGES.c.id == _REACTIONS.c.message_id)
    .where(_MESSAGES.c.conversation_id == _CID,
           _MESSAGES.c.seq.between(bindparam("p_low", type_=Integer), bindparam("p_high", type_=Integer)))
    .order_by(_REACTIONS.c.created_at)
)

# (conversation id, lowest seq, highest seq): the rows are all of that conversation's messages in between.
Span = tuple[int, int, int]


def rows_to_dicts(rows: Sequence[Any], span: Span | None = None) -> list[dict[str, Any]]:
    """Message rows to contract dicts, with their reactions in one query."""
    return [as_dict(message) for message in rows_to_objects(rows, span)]


def rows_to_objects(rows: Sequence[Any], span: Span | None = None) -> list[contract.Message]:
    """Message rows to contract Messages, with their reactions and attachments in
    one query each; by ``span`` when the rows are a whole span (a history page)."""
    rows = by_name(rows)
    live_ids = [row.id for row in rows if not row.deleted]
    reactions: dict[int, dict[str, list[int]]] = {}
    if live_ids:
        conn = db.session.connection()
        found = (_REACTIONS_IN_SPAN.all(conn, {"p_cid": span[0], "p_low": span[1], "p_high": span[2]})
                 if span is not None else conn.execute(_REACTIONS_OF, {"p_ids": live_ids}))
        for message_id, emoji, user_id in found:
            reactions.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    quoted_ids = {row.reply_to_id for row in rows if row.reply_to_id is not None and not row.deleted}
    quotes: dict[int, contract.ReplyPreview | None] = {}
    if quoted_ids:
        for original in db.session.connection().execute(_QUOTES_OF, {"p_ids": list(quoted_ids)}):
            quotes[original.id] = reply_preview(original)
    files = uploads.attachments_in_span(*span) if span is not None and live_ids else uploads.attachments_of(live_ids)
    return [
        message_object(row, reactions.get(row.id, {}), quotes.get(row.reply_to_id) if row.reply_to_id else None,
                       files.get(row.id))
        for row in rows
    ]


_QUOTES_OF = select(*_QUOTE_COLUMNS).where(_MESSAGES.c.id.in_(bindparam("p_ids", expanding=True)))
