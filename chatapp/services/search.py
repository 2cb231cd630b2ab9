"""Message search (PROTOCOL.md v2 "Search"): the words of q, matched by each
database's own full-text index (chatapp/models/search.py), newest first.

The rule: every word of q starts a word of the body, ignoring case and accents.
A word is a run of letters and digits (with their combining marks); anything else
in q (punctuation, quotes, ``*``, ``:``, ``NEAR(``) only separates words, so no
search syntax reaches an engine. The engine decides what matches; this module
computes ``highlights`` with a folding that is at least as wide as the engines'
(NFKD without marks, case-folded, plus the letters ``unaccent`` maps that have no
decomposition), so every word an engine matched gets its range.

Scope: the caller's conversations; with ``conversation_id``, that one conversation,
readable by the same rule as its history (a public room's visitor may search it).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, column, false, func, literal_column, select, table, text
from sqlalchemy.sql.expression import ColumnClause

from ..contract import objects as contract
from ..contract.limits import MAX_ID, MAX_SEARCH_QUERY_CHARS, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT
from ..extensions import db
from ..models import Membership, Message, User
from ..models import search as index
from .conversations import readable_id
from .errors import field_error
from .messaging import rows_to_objects
from .validation import integer
from .validation import text as text_field

# ---------------------------------------------------------------- words and folding

# Letters without a Unicode decomposition that PostgreSQL's unaccent still maps
# (its unaccent.rules), for the Latin alphabets people write: folded here too, so
# a word that PostgreSQL matched through them is highlighted.
_EXTRA_FOLDS = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ŋ": "n", "ð": "d", "þ": "th",
                "æ": "ae", "œ": "oe", "ƒ": "f", "ɛ": "e", "ĸ": "q"}


@lru_cache(maxsize=4096)
def fold_char(ch: str) -> str:
    """What one character becomes for matching: "" for a combining mark."""
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M")).casefold()
    return "".join(_EXTRA_FOLDS.get(c, c) for c in kept)


def fold(value: str) -> str:
    return "".join(fold_char(ch) for ch in value)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def word_spans(value: str) -> list[tuple[int, int]]:
    """[start, end) code-point spans of the words of ``value``."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, ch in enumerate(value):
        if _is_word_char(ch):
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(value)))
    return spans


def words_of(q: str) -> list[str]:
    """The words of q, lower-cased, once each; a word that folds to nothing (a lone
    accent) is no word."""
    return list(dict.fromkeys(w.lower() for w in (q[s:e] for s, e in word_spans(q)) if fold(w)))


def constraining(words: Sequence[str]) -> list[str]:
    """What the engines need to be told: a word that begins another word of q adds
    nothing (the body word that the longer one starts, it starts too)."""
    return [w for w in words if not any(o != w and o.startswith(w) for o in words)]


def highlights(body: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """The ranges of ``body`` that the folded ``terms`` match: for each body word that
    some term starts, from the word's start to the end of the longest such term (a
    character is never split; combining marks after the last matched one are included)."""
    ranges: list[tuple[int, int]] = []
    for start, end in word_spans(body):
        folded = ""
        ends: list[int] = []  # ends[k]: the body offset just past the character that made folded[k]
        for i in range(start, end):
            piece = fold_char(body[i])
            folded += piece
            ends.extend([i + 1] * len(piece))
        best = max((len(t) for t in terms if folded.startswith(t)), default=0)
        if not best:
            continue
        stop = ends[best - 1]
        while stop < end and fold_char(body[stop]) == "":
            stop += 1  # the accent of the last matched letter
        ranges.append((start, stop))
    return ranges


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Query:
    words: list[str]  # for the engines: q's words as typed (lower-cased), those that constrain
    folded: list[str]  # for highlights: every word of q, folded


def parse_query(q: object) -> Query:
    value = text_field(q, "q", max_chars=MAX_SEARCH_QUERY_CHARS)
    words = words_of(value)
    return Query(constraining(words), [fold(w) for w in words])


def parse_limit(limit: object) -> int:
    if limit is None:
        return SEARCH_DEFAULT_LIMIT
    number = integer(limit, "limit", minimum=1)
    assert number is not None
    if number > SEARCH_MAX_LIMIT:
        raise field_error("limit", f"must be at most {SEARCH_MAX_LIMIT}")
    return number


_CURSOR = re.compile(r"m([1-9][0-9]{0,18})")


def encode_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"m{message_id}".encode()).decode().rstrip("=")


def decode_cursor(value: object) -> int | None:
    """The id the next page starts below; None for the first page."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise field_error("cursor", "malformed")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise field_error("cursor", "malformed") from None
    found = _CURSOR.fullmatch(raw)
    if found is None or int(found.group(1)) > MAX_ID:
        raise field_error("cursor", "malformed")
    return int(found.group(1))


# ---------------------------------------------------------------- the service


def search_messages(
    user: User, q: object, conversation_id: object = None, limit: object = None, cursor: object = None
) -> tuple[list[contract.SearchResult], str | None]:
    """One page of results, newest first, and the cursor of the next page (None: last page)."""
    query = parse_query(q)
    count = parse_limit(limit)
    before = decode_cursor(cursor)
    conn = db.session.connection()
    if conversation_id is not None:
        cid = readable_id(user, conversation_id)
        before_seq = None
        if before is not None:
            before_seq = conn.execute(_IN_CONVERSATION, {"p_id": before, "p_cid": cid}).scalar()
            if before_seq is None:
                raise field_error("cursor", "not a cursor of this conversation's search")
        scope: list[int] | None = None
    else:
        cid, before_seq = None, None
        scope = list(conn.execute(_MEMBER_OF, {"p_uid": user.id}).scalars())
        if not scope:
            return [], None
    if not query.words:
        return [], None  # q held no letters or digits: nothing can match
    if conn.dialect.name == "postgresql":
        rows = _postgres(query, cid, scope, before, before_seq, count + 1)
    else:
        rows = _sqlite(query, user.id, cid, scope, before, count + 1)
    page = rows[:count]
    results = [
        contract.SearchResult(message=message, highlights=highlights(row.body, query.folded))
        for row, message in zip(page, rows_to_objects(page), strict=True)
    ]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > count else None
    return results, next_cursor


_MESSAGES = cast(Table, Message.__table__)
_MEMBER_OF = select(Membership.conversation_id).where(Membership.user_id == bindparam("p_uid"))
_IN_CONVERSATION = select(_MESSAGES.c.seq).where(
    _MESSAGES.c.id == bindparam("p_id"), _MESSAGES.c.conversation_id == bindparam("p_cid")
)
_LIMIT = bindparam("p_limit", type_=Integer)

# ---- SQLite: FTS5, driven newest-first by rowid (= message id), LIMIT inside the scan.

_FTS = table(index.FTS_TABLE, column("rowid", Integer))
_FTS_MATCH = literal_column(index.FTS_TABLE).op("MATCH")(bindparam("p_match"))
_SQLITE_BASE = (
    select(*_MESSAGES.c)
    .select_from(_FTS.join(_MESSAGES, _MESSAGES.c.id == _FTS.c.rowid))
    .where(_FTS_MATCH, _MESSAGES.c.deleted == false())
    .order_by(_FTS.c.rowid.desc())
    .limit(_LIMIT)
)
# Up to this many conversations, the match itself is restricted to them (the FTS
# column conversation_id): its cost follows the caller's share of the messages,
# not how common the word is elsewhere. Measured on 1M messages: 0.3-7 ms for
# 30-300 conversations, ~15 ms at 600, 26-38 ms at 10,000, where the OR list
# itself dominates; a member of that many conversations holds much of the
# history, and filtering after the match (the join below, always applied) is cheap.
FTS_CONVERSATION_FILTER_MAX = 200


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"*'


def fts_match(words: Sequence[str], conversation_ids: Sequence[int] | None) -> str:
    """The FTS5 MATCH expression: each word a quoted prefix phrase (FTS5 syntax in q is text)."""
    expression = "{body}: (" + " AND ".join(_fts_phrase(w) for w in words) + ")"
    if conversation_ids:
        expression += " AND {conversation_id}: (" + " OR ".join(f'"{cid}"' for cid in conversation_ids) + ")"
    return expression


def _sqlite(
    query: Query, user_id: int, cid: int | None, scope: list[int] | None, before: int | None, limit: int
) -> list[Any]:
    stmt: Select[Any] = _SQLITE_BASE
    if cid is not None:
        ids: list[int] | None = [cid]
        stmt = stmt.where(_MESSAGES.c.conversation_id == cid)
    else:
        assert scope is not None
        ids = scope if len(scope) <= FTS_CONVERSATION_FILTER_MAX else None
        # Whatever the index says, only the caller's conversations (one statement, one snapshot).
        stmt = stmt.where(_MESSAGES.c.conversation_id.in_(_MEMBER_OF.scalar_subquery()))
    if before is not None:
        stmt = stmt.where(_FTS.c.rowid < before)
    params = {"p_match": fts_match(query.words, ids), "p_limit": limit, "p_uid": user_id}
    return list(db.session.connection().execute(stmt, params))


# ---- PostgreSQL: the GIN index on the generated tsvector.

_VECTOR: ColumnClause[Any] = literal_column(f"messages.{index.SEARCH_COLUMN}")
_NORMALIZE = text("SELECT chat_search_text(term) FROM unnest(CAST(:p_terms AS text[])) AS term")
_MATCHES = _VECTOR.op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("p_query")))
# All of the caller's conversations: the GIN bitmap of the words AND the conversations'
# bitmap, or the primary key newest-first when matches are dense (the planner's choice).
_PG_MEMBER = (
    select(*_MESSAGES.c)
    .where(_MATCHES, _MESSAGES.c.deleted == false(),
           _MESSAGES.c.conversation_id.in_(bindparam("p_cids", expanding=True)))
    .order_by(_MESSAGES.c.id.desc())
    .limit(_LIMIT)
)
# One conversation, newest first by seq (the same order as ids within a conversation).
# First its newest SCAN_WINDOW messages, read backwards on the (conversation_id, seq)
# index and checked one by one: measured at 1M messages, 0.3-1 ms however common the
# word, where the planner's GIN bitmap took 6-7 ms for a common word (GIN's prefix
# search collects every posting of the prefix first). Only a page the window does not
# fill goes on, below the window, with the GIN index.
SCAN_WINDOW = 2000
_IN_ONE = (_MESSAGES.c.conversation_id == bindparam("p_cid"), _MESSAGES.c.seq < bindparam("p_before_seq"))
_RECENT = (
    select(*_MESSAGES.c, _VECTOR.label("search_vector"))
    .where(*_IN_ONE)
    .order_by(_MESSAGES.c.seq.desc())
    .limit(bindparam("p_window", type_=Integer))
    .subquery("recent")
)
_PG_RECENT = (
    select(*(_RECENT.c[c.name] for c in _MESSAGES.c))
    .where(_RECENT.c.search_vector.op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"),
                                                            bindparam("p_query"))),
           _RECENT.c.deleted == false())
    .order_by(_RECENT.c.seq.desc())
    .limit(_LIMIT)
)
_WINDOW_FLOOR = (
    select(_MESSAGES.c.seq).where(*_IN_ONE).order_by(_MESSAGES.c.seq.desc())
    .offset(bindparam("p_window_last", type_=Integer)).limit(1)
)
_PG_OLDER = (
    select(*_MESSAGES.c)
    .where(_MATCHES, _MESSAGES.c.deleted == false(), *_IN_ONE)
    .order_by(_MESSAGES.c.seq.desc())
    .limit(_LIMIT)
)


def tsquery(normalized: Sequence[str]) -> str | None:
    """``'w1':* & 'w2':*`` from words already through chat_search_text: no quote or
    backslash is left in them (ASCII punctuation became spaces), so each quoted
    lexeme is safe. None when a word lost every letter there (it can match nothing)."""
    parts = []
    for word in normalized:
        cleaned = " ".join(word.split())
        if not any(ch.isalnum() for ch in cleaned) or "'" in cleaned or "\\" in cleaned:
            return None
        parts.append(f"'{cleaned}':*")
    return " & ".join(parts)


def _postgres(
    query: Query, cid: int | None, scope: list[int] | None, before: int | None, before_seq: int | None, limit: int
) -> list[Any]:
    conn = db.session.connection()
    # The words through the database's own normalisation (unaccent's rules), then the
    # tsquery as one constant: the planner estimates its selectivity from the statistics.
    normalized = list(conn.execute(_NORMALIZE, {"p_terms": query.words}).scalars())
    expression = tsquery(normalized)
    if expression is None:
        return []
    if cid is None:
        assert scope is not None
        stmt = _PG_MEMBER if before is None else _PG_MEMBER.where(_MESSAGES.c.id < before)
        return list(conn.execute(stmt, {"p_query": expression, "p_cids": scope, "p_limit": limit}))
    params = {"p_query": expression, "p_cid": cid, "p_before_seq": MAX_ID if before_seq is None else before_seq}
    rows = list(conn.execute(_PG_RECENT, {**params, "p_limit": limit, "p_window": SCAN_WINDOW}))
    if len(rows) < limit:
        floor = conn.execute(_WINDOW_FLOOR, {**params, "p_window_last": SCAN_WINDOW - 1}).scalar()
        if floor is not None:  # the conversation goes on below the window
            older = conn.execute(_PG_OLDER, {**params, "p_before_seq": floor, "p_limit": limit - len(rows)})
            rows += list(older)
    return rows
