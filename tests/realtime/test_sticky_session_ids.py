"""Session ids that name their worker (chatapp/realtime/sessionids.py).

The load balancers route on the prefix (docs/deployment.md, "Stickiness"), so
the prefix must be exact, the random part must stay python-engineio's, and
the hook must be the one python-engineio really calls for a handshake.
"""

from __future__ import annotations

import json
import re

import engineio
import pytest

from chatapp import create_app
from chatapp.realtime import sessionids

BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_ids_are_the_worker_id_a_dot_and_engineio_s_own_random_id():
    server = engineio.Server(async_mode="threading")
    plain = server.generate_id()
    sessionids.install(server, "w7")

    first, second = server.generate_id(), server.generate_id()

    assert first.startswith("w7.") and second.startswith("w7.") and first != second
    for sid in (first, second):
        random_part = sid.removeprefix("w7.")
        assert len(random_part) == len(plain) and BASE64URL.match(random_part)  # 96 random bits + a counter
        assert sessionids.worker_of(sid) == "w7"


def test_no_worker_id_leaves_ids_unprefixed():
    server = engineio.Server(async_mode="threading")
    sessionids.install(server, "")
    sid = server.generate_id()
    assert "." not in sid and sessionids.worker_of(sid) is None


@pytest.mark.parametrize("bad", ["w1.", "a b", "w1/x", "é", "x" * 33])
def test_a_worker_id_the_load_balancer_could_not_match_exactly_is_refused(bad):
    with pytest.raises(ValueError, match="CHAT_WORKER_ID"):
        sessionids.install(engineio.Server(async_mode="threading"), bad)


def test_the_polling_handshake_of_an_app_with_a_worker_id_answers_a_prefixed_sid(tmp_path):
    """Pins the hook: python-engineio's handshake takes its sid from generate_id()
    (python-socketio's namespace sids too: the e2e tests check those)."""
    app = create_app("testing", WORKER_ID="w9", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'test.db'}")
    try:
        response = app.test_client().get("/socket.io/?EIO=4&transport=polling")
        assert response.status_code == 200
        handshake = json.loads(response.get_data(as_text=True)[1:])  # "0" = the open packet
        assert handshake["sid"].startswith("w9.")
        assert sessionids.worker_of(handshake["sid"]) == "w9"
    finally:
        app.extensions["chat.tasks"].shutdown()
