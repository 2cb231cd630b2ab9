"""What blocking costs the send path (docs/performance.md "Blocking on the send path").

``python -m bench.blocking [DATABASE_URL]`` (default: a scratch SQLite file). Times the
send path's sender-state query as it was before blocking and as it is now (one more
column), in a group and in a direct conversation, where a direct send also runs
``blocks.check_direct_send``: best of 7 rounds of 3,000, interleaved, in microseconds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from sqlalchemy import Select, bindparam, select

from chatapp import create_app
from chatapp.extensions import db
from chatapp.models import Conversation, Membership
from chatapp.prepared import Prepared
from chatapp.services import accounts, blocks, conversations, messaging

ROUNDS, CALLS = 7, 3000
BEFORE = (
    select(Conversation.posting, Membership.role, Membership.last_read_seq)
    .join(Membership, Membership.conversation_id == Conversation.id)
    .where(Conversation.id == bindparam("p_cid"), Membership.user_id == bindparam("p_uid"))
)


def main(url: str) -> dict[str, float]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    with app.app_context():
        db.create_all()
        try:
            return _measure()
        finally:
            db.session.rollback()
            db.drop_all()


def _measure() -> dict[str, float]:
    alice = accounts.register("alice", "correct horse").user
    bob = accounts.register("bobby", "correct horse").user
    direct = conversations.open_direct(alice, bob.id)[0]["id"]
    group = conversations.create_group(alice, "g", [bob.id])["id"]
    conn = db.session.connection()

    def timed(stmt: Select | Prepared, cid: int) -> float:
        start = time.perf_counter()
        for _ in range(CALLS):
            if isinstance(stmt, Prepared):  # the send path's statement, as it runs it (chatapp/prepared.py)
                direct_key = stmt.first(conn, {"p_cid": cid, "p_uid": alice.id, "p_key": "none"})[3]
                if direct_key is not None:
                    blocks.check_direct_send(conn, alice.id, direct_key)
            else:
                conn.execute(stmt, {"p_cid": cid, "p_uid": alice.id}).one()
        return (time.perf_counter() - start) / CALLS * 1e6

    best: dict[str, float] = {}
    cases = (("group, before", BEFORE, group), ("group, now", messaging._SENDER_STATE, group),
             ("direct, before", BEFORE, direct), ("direct, now", messaging._SENDER_STATE, direct))
    for _ in range(ROUNDS):
        for label, stmt, cid in cases:
            best[label] = min(best.get(label, float("inf")), timed(stmt, cid))
    return best


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        target = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{os.path.join(folder, 'bench.db')}"
        for name, micros in main(target).items():
            print(f"{name}: {micros:.1f} us")
