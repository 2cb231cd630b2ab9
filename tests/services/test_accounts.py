"""Accounts, specified at the service layer (no HTTP, no sockets).

Registration and login hand out opaque 256-bit bearer tokens that are stored
only as their SHA-256; passwords are hashed with Argon2id at OWASP's cost or
stronger; usernames are case-insensitive; users are found by a prefix of their
username or display name.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime

import pytest
from sqlalchemy import select, text

from chatapp.extensions import db
from chatapp.models import ApiToken, User
from chatapp.services import accounts
from chatapp.services.errors import Conflict, NotFound, Unauthorized, ValidationError

PASSWORD = "correct horse"


# ---------------------------------------------------------------- registration


def test_register_returns_the_user_and_a_token_that_authenticates(app):
    session = accounts.register("alice", PASSWORD, "Alice Liddell")
    assert session.user.username == "alice"
    assert session.user.display_name == "Alice Liddell"
    user, row = accounts.authenticate_token(session.token)
    assert user.id == session.user.id
    assert row.id == session.token_row.id


def test_display_name_defaults_to_the_username(app):
    session = accounts.register("bob", PASSWORD)
    assert session.user.display_name == "bob"
    assert session.user.to_dict()["display_name"] == "bob"


def test_user_object_has_the_contract_shape(app):
    user = accounts.register("carol", PASSWORD).user
    assert set(user.to_dict()) == {"id", "username", "display_name", "online", "last_seen_at"}
    assert user.to_dict()["last_seen_at"] is None


def test_usernames_are_folded_to_lower_case(app):
    session = accounts.register("  MixedCase_1 ", PASSWORD)
    assert session.user.username == "mixedcase_1"


@pytest.mark.parametrize("taken_as", ["alice", "ALICE", "Alice", " alice "])
def test_usernames_are_unique_whatever_their_case(app, taken_as):
    accounts.register("Alice", PASSWORD)
    with pytest.raises(Conflict):
        accounts.register(taken_as, PASSWORD)
    assert db.session.scalar(select(text("count(*)")).select_from(User)) == 1


@pytest.mark.parametrize(
    "username",
    [
        "ab",  # too short
        "a" * 33,  # too long
        "has space",
        "semi;colon",
        "émile",  # outside [a-z0-9_.-]
        "",
        123,
        None,
        ["alice"],
    ],
)
def test_malformed_usernames_are_a_validation_error(app, username):
    with pytest.raises(ValidationError) as info:
        accounts.register(username, PASSWORD)
    assert "username" in info.value.extra["fields"]


@pytest.mark.parametrize("password", ["short", "1234567", "", None, 12345678, "x" * 1025])
def test_bad_passwords_are_a_validation_error(app, password):
    with pytest.raises(ValidationError) as info:
        accounts.register("dave", password)
    assert "password" in info.value.extra["fields"]


def test_a_password_of_exactly_eight_characters_is_accepted(app):
    assert accounts.register("erin", "12345678").user.id


@pytest.mark.parametrize("display_name", ["", "   ", "x" * 65, 42, ["x"]])
def test_bad_display_names_are_a_validation_error(app, display_name):
    with pytest.raises(ValidationError):
        accounts.register("frank", PASSWORD, display_name)


# ---------------------------------------------------------------- secrets at rest


def test_password_is_hashed_with_argon2id_at_owasp_cost_or_stronger(app):
    user = accounts.register("grace", PASSWORD).user
    stored = db.session.get(User, user.id).password_hash
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert match, stored
    memory_kib, time_cost, parallelism = map(int, match.groups())
    assert memory_kib >= 19 * 1024
    assert time_cost >= 2
    assert parallelism >= 1
    assert PASSWORD not in stored


def test_tokens_carry_256_bits_and_differ_per_session(app):
    first = accounts.register("heidi", PASSWORD)
    second = accounts.login("heidi", PASSWORD)
    for token in (first.token, second.token):
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 256
    assert first.token != second.token


def test_only_the_sha256_of_a_token_is_stored(app):
    session = accounts.register("ivan", PASSWORD, device_name="phone")
    row = db.session.get(ApiToken, session.token_row.id)
    assert row.token_hash == hashlib.sha256(session.token.encode()).hexdigest()
    # The token itself appears nowhere in the database.
    for table in ("users", "api_tokens"):
        for record in db.session.execute(text(f"SELECT * FROM {table}")):
            assert all(session.token not in str(value) for value in record)


# ---------------------------------------------------------------- login and tokens


def test_login_is_case_insensitive_and_labels_the_token_with_the_device(app):
    accounts.register("judy", PASSWORD)
    session = accounts.login("JUDY", PASSWORD, device_name="Judy's iPhone")
    assert session.user.username == "judy"
    assert session.token_row.device_name == "Judy's iPhone"
    assert accounts.authenticate_token(session.token)[0].id == session.user.id


@pytest.mark.parametrize("username,password", [("mallory", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_unauthorized_with_one_message(app, username, password):
    accounts.register("mallory", PASSWORD)
    with pytest.raises(Unauthorized) as info:
        accounts.login(username, password)
    # The same answer for an unknown user and a wrong password: no username oracle.
    assert info.value.message == "wrong username or password"


@pytest.mark.parametrize("username,password", [(None, PASSWORD), ("mallory", None), (5, PASSWORD), ("mallory", ["x"])])
def test_login_with_wrong_types_is_a_validation_error(app, username, password):
    with pytest.raises(ValidationError):
        accounts.login(username, password)


@pytest.mark.parametrize("token", [None, "", "not-a-token", 42, "x" * 500, {"token": "x"}])
def test_unknown_or_malformed_tokens_are_unauthorized(app, token):
    accounts.register("niaj", PASSWORD)
    with pytest.raises(Unauthorized):
        accounts.authenticate_token(token)


def test_tokens_are_listed_with_device_names_and_the_current_one_marked(app):
    phone = accounts.register("olivia", PASSWORD, device_name="phone")
    laptop = accounts.login("olivia", PASSWORD, device_name="laptop")
    tokens = accounts.list_tokens(phone.user, current_token_id=laptop.token_row.id)
    assert {t["device_name"]: t["current"] for t in tokens} == {"phone": False, "laptop": True}
    assert all(set(t) == {"id", "device_name", "created_at", "last_used_at", "current"} for t in tokens)
    # Never the token or its hash.
    assert phone.token not in str(tokens) and phone.token_row.token_hash not in str(tokens)


def test_revoking_a_token_stops_it_at_once_and_leaves_the_others(app):
    phone = accounts.register("peggy", PASSWORD, device_name="phone")
    laptop = accounts.login("peggy", PASSWORD, device_name="laptop")
    accounts.revoke_token(phone.user, phone.token_row.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate_token(phone.token)
    assert accounts.authenticate_token(laptop.token)[0].id == phone.user.id
    assert [t["device_name"] for t in accounts.list_tokens(phone.user, None)] == ["laptop"]
    # Revoking twice is harmless.
    accounts.revoke_token(phone.user, phone.token_row.id)


def test_logout_revokes_the_token_and_the_browser_session_bound_to_it(app):
    session = accounts.register("quentin", PASSWORD)
    proof = accounts.session_proof(session.token_row)
    assert accounts.authenticate_token_id(session.token_row.id, session.user.id, proof)[0].id == session.user.id
    accounts.revoke_token(session.user, session.token_row.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate_token_id(session.token_row.id, session.user.id, proof)


def test_nobody_can_revoke_someone_elses_token(app):
    victim = accounts.register("rupert", PASSWORD)
    attacker = accounts.register("sybil", PASSWORD)
    with pytest.raises(NotFound):
        accounts.revoke_token(attacker.user, victim.token_row.id)
    assert accounts.authenticate_token(victim.token)[0].id == victim.user.id


@pytest.mark.parametrize("token_id", ["1", 1.0, True, 0, -3, None])
def test_revoking_a_malformed_token_id_is_a_validation_error(app, token_id):
    session = accounts.register("trent", PASSWORD)
    with pytest.raises(ValidationError):
        accounts.revoke_token(session.user, token_id)


def test_a_deactivated_user_cannot_log_in_and_their_tokens_stop(app):
    session = accounts.register("uma", PASSWORD)
    accounts.deactivate_user(session.user.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate_token(session.token)
    with pytest.raises(Unauthorized):
        accounts.login("uma", PASSWORD)


# ---------------------------------------------------------------- search


@pytest.fixture
def people(app):
    users = {}
    for username, display in [
        ("alice", "Alice Liddell"),
        ("alfred", "Butler"),
        ("bob", "Alistair Bobson"),
        ("carol", "Carol"),
        ("x_y", "Underscore"),
    ]:
        users[username] = accounts.register(username, PASSWORD, display).user
    return users


def _names(found: list[dict]) -> list[str]:
    return [u["username"] for u in found]


@pytest.mark.parametrize(
    "query,expected",
    [
        ("al", ["alfred", "alice", "bob"]),  # bob's display name starts with "Al"
        ("AL", ["alfred", "alice", "bob"]),  # case-insensitive
        ("ali", ["alice", "bob"]),
        ("alice l", ["alice"]),  # a prefix of the display name, spaces included
        ("butl", ["alfred"]),
        ("lid", []),  # a substring is not a prefix
        ("olson", []),
        ("%", []),  # LIKE wildcards are literal
        ("_", []),
        ("x_", ["x_y"]),
        ("", ["alfred", "alice", "bob", "carol", "x_y"]),
    ],
)
def test_search_matches_a_prefix_of_username_or_display_name(people, query, expected):
    viewer = people["carol"]
    assert _names(accounts.search_users(viewer, query, None)) == expected


def test_search_honours_and_clamps_the_limit(people):
    assert len(accounts.search_users(people["carol"], "", 2)) == 2
    assert len(accounts.search_users(people["carol"], "", 10_000)) == 5


@pytest.mark.parametrize("limit", [0, -1, "ten", 2.5, True])
def test_search_with_a_bad_limit_is_a_validation_error(people, limit):
    with pytest.raises(ValidationError):
        accounts.search_users(people["carol"], "a", limit)


def test_search_leaves_out_deactivated_users(people):
    accounts.deactivate_user(people["alfred"].id)
    assert _names(accounts.search_users(people["carol"], "al", None)) == ["alice", "bob"]


def test_a_bearer_tokens_user_is_the_sessions_own_and_its_changes_are_saved(app):
    """authenticate_token puts the User into the session from its prepared row:
    it must behave as a queried one (the same object as one already loaded, and
    saved on commit when changed)."""
    session = accounts.register("persisted", PASSWORD)
    user_id = session.user.id
    db.session.remove()
    user, _row = accounts.authenticate_token(session.token)
    assert db.session.get(User, user.id) is user
    assert (user.username, user.active, user.closed_at) == ("persisted", True, None)
    assert isinstance(user.created_at, datetime)
    user.display_name = "Renamed"
    db.session.commit()
    db.session.remove()
    assert db.session.get(User, user_id).display_name == "Renamed"
    already = db.session.get(User, user_id)
    assert accounts.authenticate_token(session.token)[0] is already
