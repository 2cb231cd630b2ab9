"""Message search, the service (PROTOCOL.md v2 "Search"): every word of q starts a
word of the body, ignoring case and accents; newest first; the caller's
conversations only; never deleted messages; edited ones by their current text;
highlights are code-point ranges of the matched word prefixes. Runs on SQLite
(FTS5) and, with CHAT_TEST_DB=postgres, on PostgreSQL (tsvector + GIN): the
same expectations for both engines."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text

from chatapp.extensions import db
from chatapp.models import search as index
from chatapp.services import conversations, messaging, search
from chatapp.services.errors import NotFound, ValidationError
from tests.support.server import migrate


@pytest.fixture
def chat(app, make_user):
    app.config.update(RATE_MESSAGES_BURST=10_000, RATE_EDIT_BURST=1000, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    ana, bob, cyd = (make_user(name)[0] for name in ("ana", "bob", "cyd"))
    dm = conversations.open_direct(ana, bob.id)[0]["id"]
    group = conversations.create_group(ana, "Team", [bob.id, cyd.id])["id"]
    return ana, bob, cyd, dm, group


def send(user, cid, body):
    return messaging.send_message(user, cid, body, str(uuid.uuid4()))[0]


def found(user, q, **kw):
    """(bodies, highlights) of the first page."""
    results, _ = search.search_messages(user, q, **kw)
    return [r.message.body for r in results]


def marked(user, q, **kw):
    results, _ = search.search_messages(user, q, **kw)
    return [(r.message.body, r.highlights) for r in results]


# ---------------------------------------------------------------- what matches


@pytest.mark.parametrize(("body", "q"), [
    ("Café au lait", "cafe"),  # accent in the body
    ("cafe au lait", "CAFÉ"),  # accent and case in q
    ("Cafe\u0301 au lait", "café"),  # a combining accent in the body
    ("cafe au lait", "cafe\u0301"),  # and in q
    ("Café au lait", "caf"),  # a prefix
    ("Crème brûlée", "BRULEE creme"),  # several words, any order
    ("naïve Ñandú", "nandu naive"),
    ("Grüße aus Köln", "kol"),
    ("Ελληνικά γράμματα", "ΓΡΆΜ"),  # (Greek tonos is kept by FTS5: q carries it too)
    ("日本語 テキスト", "テキ"),
    ("see example.com/page, x@y.org", "example page org"),  # punctuation splits words on both engines
    ("déjà-vu", "vu"),
])
def test_words_of_q_start_words_of_the_body_ignoring_case_and_accents(chat, body, q):
    ana, bob, _, dm, _ = chat
    send(ana, dm, body)
    send(ana, dm, "something else entirely")
    assert found(bob, q) == [body]


@pytest.mark.parametrize("q", ["afe", "lait cafes", "au lait x", "caféé", "ait"])
def test_a_word_must_match_the_start_of_a_word_and_every_word_must_match(chat, q):
    ana, bob, _, dm, _ = chat
    send(ana, dm, "Café au lait")
    assert found(bob, q) == []


def test_newest_first(chat):
    ana, bob, _, dm, group = chat
    ids = [send(ana, cid, f"report {n}")["id"] for n, cid in enumerate([dm, group, dm, group])]
    results, cursor = search.search_messages(bob, "report")
    assert [r.message.id for r in results] == ids[::-1] and cursor is None


def test_results_are_full_messages(chat):
    ana, bob, _, dm, _ = chat
    original = send(ana, dm, "the quarterly numbers")
    messaging.react(bob, original["id"], "👍", add=True)
    reply = messaging.send_message(bob, dm, "numbers look good", "r1", reply_to=original["id"])[0]
    results, _ = search.search_messages(ana, "numbers")
    messages = [r.message for r in results]
    assert [m.id for m in messages] == [reply["id"], original["id"]]
    assert messages[0].reply_to is not None and messages[0].reply_to.id == original["id"]
    assert messages[1].reactions == {"👍": [bob.id]}
    assert messages[1].conversation_id == dm and messages[1].sender_id == ana.id


# ---------------------------------------------------------------- highlights


@pytest.mark.parametrize(("body", "q", "expected"), [
    ("Café au lait", "caf", [(0, 3)]),
    ("Café au lait", "cafe", [(0, 4)]),
    ("Café au lait", "café lait", [(0, 4), (8, 12)]),
    ("😀🎉 café", "cafe", [(3, 7)]),  # astral characters count one code point each
    ("👩‍👩‍👧 cafe", "caf", [(6, 9)]),  # a ZWJ sequence: 5 code points
    ("Cafe\u0301!", "cafe", [(0, 5)]),  # the combining accent goes with its letter
    ("Cafe\u0301s", "cafe", [(0, 5)]),
    ("Cafe\u0301s", "cafes", [(0, 6)]),
    ("lunch, Lunchtime, LUNCH", "lunch", [(0, 5), (7, 12), (18, 23)]),
    ("caffeine café", "caf cafe", [(0, 3), (9, 13)]),  # the longest word of q that matches wins
    ("x 𝐛𝐨𝐥𝐝 y", "𝐛𝐨", [(2, 4)]),
])
def test_highlights_are_code_point_ranges_of_the_matched_prefixes(chat, body, q, expected):
    ana, bob, _, dm, _ = chat
    send(ana, dm, body)
    (result,) = marked(bob, q)
    assert result == (body, expected)
    for start, end in expected:
        assert body[start:end].strip() == body[start:end] != ""


def test_highlight_folding_is_at_least_as_wide_as_the_engines():
    assert search.fold("Ünïcödé") == "unicode"
    assert search.fold("Straße") == "strasse"
    assert search.fold("Søren Łódź Æsir") == "soren lodz aesir"
    assert search.fold("ﬁne") == "fine"
    assert search.highlights("Søren", ["s"]) == [(0, 1)]
    assert search.highlights("Søren", ["soren"]) == [(0, 5)]
    assert search.highlights("ﬁne", ["f"]) == [(0, 1)]  # a ligature is one character: never split
    assert search.word_spans("a-b c__d 1.5") == [(0, 1), (2, 3), (4, 5), (7, 8), (9, 10), (11, 12)]


def test_where_the_engines_differ_is_what_docs_search_md_says(chat):
    """Letters without a decomposition fold on PostgreSQL (unaccent) only; the same
    letter typed in q matches on both. Highlights cover both cases."""
    ana, bob, _, dm, _ = chat
    send(ana, dm, "Søren from Straße")
    assert marked(bob, "søren straße") == [("Søren from Straße", [(0, 5), (11, 17)])]
    folded = marked(bob, "soren strasse")
    if db.engine.dialect.name == "postgresql":
        assert folded == [("Søren from Straße", [(0, 5), (11, 17)])]
    else:
        assert folded == []


# ---------------------------------------------------------------- what is never found


def test_deleted_messages_are_never_found(chat):
    ana, bob, _, dm, _ = chat
    gone = send(ana, dm, "secret plans")
    kept = send(ana, dm, "secret recipe")
    messaging.delete_message(ana, gone["id"])
    assert found(bob, "secret") == ["secret recipe"]
    assert found(bob, "plans") == []
    assert kept


def test_an_edited_message_is_found_by_its_new_text_only(chat):
    ana, bob, _, dm, _ = chat
    message = send(ana, dm, "meet at noon")
    messaging.edit_message(ana, message["id"], "meet at dusk")
    assert found(bob, "noon") == []
    assert found(bob, "dusk") == ["meet at dusk"]
    results, _ = search.search_messages(bob, "meet")
    assert results[0].message.edited_at is not None


def test_only_conversations_of_the_caller(chat, make_user):
    ana, bob, cyd, dm, group = chat
    send(ana, dm, "budget draft")  # ana and bob only
    send(ana, group, "budget final")  # ana, bob, cyd
    outsider = make_user("eve")[0]
    assert found(cyd, "budget") == ["budget final"]
    assert found(outsider, "budget") == []
    with pytest.raises(NotFound):
        search.search_messages(cyd, "budget", conversation_id=dm)
    with pytest.raises(NotFound):
        search.search_messages(cyd, "budget", conversation_id=999_999)


def test_after_leaving_a_group_its_messages_are_no_longer_found(chat):
    ana, _, cyd, _, group = chat
    send(ana, group, "offsite agenda")
    assert found(cyd, "agenda") == ["offsite agenda"]
    conversations.remove_member(cyd, group, cyd.id)
    assert found(cyd, "agenda") == []
    with pytest.raises(NotFound):
        search.search_messages(cyd, "agenda", conversation_id=group)


def test_a_public_room_is_searched_by_its_readers_only_when_asked_for(chat, make_user):
    ana, _, _, _, _ = chat
    visitor = make_user("vic")[0]
    room = conversations.create_group(ana, "Lobby", [], visibility="public")["id"]
    send(ana, room, "welcome everyone")
    # Its history is readable by anyone (GET messages), so it may be searched by id;
    # a search of "everything" covers the caller's own conversations only.
    assert found(visitor, "welcome", conversation_id=room) == ["welcome everyone"]
    assert found(visitor, "welcome") == []


def test_conversation_id_limits_the_search_to_that_conversation(chat):
    ana, bob, _, dm, group = chat
    send(ana, dm, "release notes")
    send(ana, group, "release party")
    assert found(bob, "release", conversation_id=group) == ["release party"]
    assert found(bob, "release", conversation_id=dm) == ["release notes"]
    assert found(bob, "release") == ["release party", "release notes"]


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize(("scope", "window"), [("all", None), ("one conversation", None), ("one conversation", 3),
                                               ("one conversation", 1)])
def test_pages_go_newest_first_without_duplicates_or_gaps(chat, scope, window, monkeypatch):
    """(On PostgreSQL one conversation is read newest-first in a window, then below it
    through the index: a small window makes pages cross it.)"""
    if window:
        monkeypatch.setattr(search, "SCAN_WINDOW", window)
    ana, bob, _, dm, group = chat
    ids = []
    for n in range(23):
        cid = group if scope == "one conversation" or n % 3 else dm
        ids.append(send(ana, cid, f"status update {n}")["id"])
        send(bob, cid, "unrelated chatter")
    kw = {"conversation_id": group} if scope == "one conversation" else {}
    seen, cursor, pages = [], None, 0
    while True:
        results, cursor = search.search_messages(bob, "status upd", limit=5, cursor=cursor, **kw)
        seen += [r.message.id for r in results]
        pages += 1
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert pages == 5  # 5 + 5 + 5 + 5 + 3: the last page says so (no empty page after it)


def test_an_exact_last_page_has_no_cursor(chat):
    ana, bob, _, dm, _ = chat
    for n in range(4):
        send(ana, dm, f"ping {n}")
    results, cursor = search.search_messages(bob, "ping", limit=2)
    assert len(results) == 2 and cursor is not None
    results, cursor = search.search_messages(bob, "ping", limit=2, cursor=cursor)
    assert len(results) == 2 and cursor is None


# ---------------------------------------------------------------- hostile and invalid input

HOSTILE = [
    'AND', 'OR', 'NOT', 'a AND', 'NEAR(a b)', 'NEAR(', '"', '""', '"unclosed', "'", "''", "a'b", '*', 'caf*', '**',
    '-', '-caf', 'a - b', ':', 'body:caf', '{body}: x', 'conversation_id:1', '^caf', '(', ')', '(a OR b)', '+',
    '\\', '\\\\', 'a\\b', '%', '_', '%_%', '&', '|', '!', 'a & b | !c', "'':*", "x:*", '<->', 'a <-> b', '@@', ';',
    'DROP TABLE messages;--', '\u0301', '\u0301\u0301', 'ʹ', '½', '⁰', '\ue000', 'a\u200bb', '😀', '🇫🇷',
    'ﬁ', 'İ', 'ß', 'ǅ', 'x' * 200, ('ab ' * 67)[:200], ' '.join('abcdefghijklmnopqrstuvwxyz0123456789' * 3)[:200],
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_q_answers_results_never_an_error(chat, q):
    ana, bob, _, dm, _ = chat
    send(ana, dm, "café AND NEAR body conversation_id 1 a b c x ab 😀 ß ﬁne İstanbul")
    results, cursor = search.search_messages(bob, q)
    assert isinstance(results, list) and cursor is None
    # Same in one conversation (another statement on each engine).
    search.search_messages(bob, q, conversation_id=dm)


def test_syntax_in_q_is_text(chat):
    ana, bob, _, dm, _ = chat
    send(ana, dm, "cats AND dogs")
    send(ana, dm, "cats or dogs")
    assert found(bob, "cats AND dogs") == ["cats AND dogs"]
    assert found(bob, '"cats" NOT dogs') == []
    assert found(bob, "(cats OR dogs)") == ["cats or dogs"]  # "or" is a word to match, not an operator
    assert found(bob, "cats -dogs") == ["cats or dogs", "cats AND dogs"]


@pytest.mark.parametrize("q", ["", " ", "   \t\n ", "\u200b", None, 7, ["a"], "x" * 201, " " + "y" * 201])
def test_q_blank_missing_or_too_long_is_a_validation_error(chat, q):
    _, bob, _, _, _ = chat
    with pytest.raises(ValidationError) as caught:
        search.search_messages(bob, q)
    assert "q" in caught.value.envelope()["error"]["fields"]


def test_q_of_200_characters_is_fine_and_trimmed_length_counts(chat):
    _, bob, _, _, _ = chat
    assert search.search_messages(bob, "y" * 200) == ([], None)
    assert search.search_messages(bob, "  " + "y" * 200 + "  ") == ([], None)


@pytest.mark.parametrize(("limit", "ok"), [(1, True), (50, True), (0, False), (51, False), (-1, False),
                                            (True, False), ("5", False), (10**30, False)])
def test_limit_is_1_to_50(chat, limit, ok):
    _, bob, _, _, _ = chat
    if ok:
        assert search.search_messages(bob, "x", limit=limit) == ([], None)
    else:
        with pytest.raises(ValidationError) as caught:
            search.search_messages(bob, "x", limit=limit)
        assert "limit" in caught.value.envelope()["error"]["fields"]


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", ["nope", "!!!!", "b" * 41, 12, ["m1"], _b64("m0"), _b64("x1"), _b64("m-1"),
                                    _b64("m01"), _b64("m1 "), _b64("m" + "9" * 20), _b64("m9223372036854775808")])
def test_a_bad_cursor_is_a_validation_error(chat, cursor):
    _, bob, _, _, _ = chat
    assert search.decode_cursor(search.encode_cursor(9223372036854775807)) == 9223372036854775807
    with pytest.raises(ValidationError) as caught:
        search.search_messages(bob, "x", cursor=cursor)
    assert "cursor" in caught.value.envelope()["error"]["fields"]


def test_a_cursor_of_another_conversation_is_a_validation_error(chat):
    ana, bob, _, dm, group = chat
    for n in range(3):
        send(ana, dm, f"memo {n}")
    _, cursor = search.search_messages(bob, "memo", limit=1, conversation_id=dm)
    assert cursor is not None
    with pytest.raises(ValidationError):
        search.search_messages(bob, "memo", limit=1, conversation_id=group, cursor=cursor)


# ---------------------------------------------------------------- the index itself


def _index_objects(connection) -> dict[str, str]:
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE name LIKE 'messages_fts%' AND sql IS NOT NULL"
        ))
        return {name: " ".join(sql.split()) for name, sql in rows}
    rows = connection.execute(text(
        "SELECT 'function ' || p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
        "WHERE p.proname IN ('immutable_unaccent', 'chat_search_text') "
        "UNION ALL SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE indexname = :index "
        "UNION ALL SELECT 'column ' || column_name, generation_expression FROM information_schema.columns "
        "WHERE table_name = 'messages' AND column_name = :column"
    ), {"index": index.SEARCH_INDEX, "column": index.SEARCH_COLUMN})
    return {name: " ".join(definition.split()) for name, definition in rows}


def test_the_migration_and_create_all_build_the_same_index(app, tmp_path):
    """Tests build the schema with create_all (models/search.py's hook), deployments
    with the migration (its own copy of the statements): they must not drift."""
    from sqlalchemy import create_engine

    from chatapp import normalize_database_url
    from tests.support.services import scratch_postgres_database

    built = _index_objects(db.session.connection())
    assert set(built) >= ({index.FTS_TABLE, *index.SQLITE_TRIGGER_NAMES} if db.engine.dialect.name == "sqlite" else
                          {"function immutable_unaccent", "function chat_search_text",
                           f"index {index.SEARCH_INDEX}", f"column {index.SEARCH_COLUMN}"})
    if db.engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
        migrate(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            assert _index_objects(connection) == built
        engine.dispose()
    else:
        with scratch_postgres_database() as url:
            migrate(url)
            engine = create_engine(normalize_database_url(url))
            with engine.connect() as connection:
                assert _index_objects(connection) == built
            engine.dispose()


def test_a_send_that_rolls_back_leaves_nothing_in_the_index(chat):
    """The index is written in the send's own transaction: the message row is inserted,
    then the attachment check fails and the whole send rolls back."""
    ana, bob, _, dm, _ = chat
    with pytest.raises(ValidationError):
        messaging.send_message(ana, dm, "phantom words", "p-1", attachments=[987654])
    assert found(bob, "phantom") == []
    assert send(ana, dm, "phantom words")["body"] == "phantom words"
    assert found(bob, "phantom") == ["phantom words"]


def test_the_index_stays_exact_through_sends_edits_deletes(chat):
    ana, bob, _, dm, _ = chat
    for n in range(30):
        sender = ana if n % 2 else bob
        message = send(sender, dm, f"note {n} ünïcode")
        if n % 3 == 0:
            messaging.edit_message(sender, message["id"], f"edited {n}")
        if n % 5 == 0:
            messaging.delete_message(sender, message["id"])
        elif n % 7 == 1:
            messaging.react(ana, message["id"], "👍", add=True)  # touches the row, not its text
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # FTS5's own check: the index holds exactly what the content table does.
        connection.execute(text(f"INSERT INTO {index.FTS_TABLE}({index.FTS_TABLE}) VALUES ('integrity-check')"))
    else:
        stale = connection.execute(text(
            f"SELECT count(*) FROM messages WHERE {index.SEARCH_COLUMN} IS DISTINCT FROM "
            "to_tsvector('simple'::regconfig, chat_search_text(body))"
        )).scalar_one()
        assert stale == 0
    live = [n for n in range(30) if n % 5]
    assert sorted(found(ana, "note"), key=lambda b: int(b.split()[1])) == [
        f"note {n} ünïcode" for n in live if n % 3
    ]
    assert sorted(found(ana, "edited"), key=lambda b: int(b.split()[1])) == [
        f"edited {n}" for n in live if n % 3 == 0
    ]
