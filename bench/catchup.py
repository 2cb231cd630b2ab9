"""Catch-up cost: ``POST /api/v1/sync`` with versions against a real server, at a large history.

A reader belongs to 100 conversations holding ``messages`` messages in all. A device
that holds all of them is up to date; then ``changes`` of its messages are edited
(spread over the conversations) and the device catches up, paging with the
default limit (500). Reported: latency of an up-to-date sync (100 cursors, nothing
changed), and of a whole catch-up of the changes (every page), over HTTP on
loopback, p50/p99 of repeated runs (the catch-up does not change what it reads,
so it can be repeated). The claim it measures: the cost grows with what changed,
not with the history (docs/events.md, "Catching up on every change").
"""

from __future__ import annotations

import random
import statistics
import time

import requests

from bench import dataset


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "samples": len(ordered),
    }


def _reader_message_ids(url: str, reader: int, count: int, history: list[tuple[int, int]]) -> list[int]:
    """Ids of ``count`` random messages the reader sent (odd seqs), by the (conversation_id, seq) index."""
    loader = dataset.Loader(url)
    rng = random.Random(7)
    picked: set[tuple[int, int]] = set()
    while len(picked) < count:
        cid, last = rng.choice(history)
        picked.add((cid, rng.randrange(1, last + 1, 2)))
    cur = loader.conn.cursor()
    marker = "%s" if loader.pg else "?"
    ids = []
    for cid, seq in sorted(picked):
        cur.execute(f"SELECT id FROM messages WHERE conversation_id = {marker} AND seq = {marker}", (cid, seq))
        ids.append(cur.fetchone()[0])
    loader.close()
    return ids


def measure(server_url: str, ds: dataset.Dataset, url: str, *, changes: int, repeats: int) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ds.tokens[ds.history_reader]}"
    sync_url = server_url + "/api/v1/sync"
    cursors = {str(cid): last for cid, last in ds.history}
    versions = dict(cursors)  # the dataset's versions equal last_seq, as after the migration

    def call(c: dict, v: dict) -> dict:
        response = session.post(sync_url, json={"cursors": c, "versions": v}, timeout=30)
        response.raise_for_status()
        return response.json()

    def catch_up() -> tuple[int, int, int]:
        c, v, pages, received = dict(cursors), dict(versions), 0, 0
        while True:
            answer = call(c, v)
            pages += 1
            received += len(answer["changes"]) + len(answer["messages"])
            c, v = answer["cursors"], answer["versions"]
            if not answer["has_more"]:
                return pages, received, len(answer["conversations"])

    for _ in range(20):
        call(cursors, versions)  # warm up: connection, statement caches
    idle = []
    for _ in range(repeats * 5):
        t0 = time.perf_counter()
        answer = call(cursors, versions)
        idle.append(time.perf_counter() - t0)
        assert not answer["changes"] and not answer["messages"] and not answer["has_more"]
    ids = _reader_message_ids(url, ds.history_reader, changes, ds.history)
    t0 = time.perf_counter()
    for n, mid in enumerate(ids):
        session.patch(f"{server_url}/api/v1/messages/{mid}", json={"body": f"edited {n}"}, timeout=30).raise_for_status()
    edit_seconds = time.perf_counter() - t0
    runs, shape = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        shape = catch_up()
        runs.append(time.perf_counter() - t0)
    pages, received, conversations = shape or (0, 0, 0)
    assert received == changes, f"the catch-up answered {received} changes, expected {changes}"
    return {
        "messages": ds.message_count,
        "conversations": len(ds.history),
        "changes": changes,
        "up_to_date_sync": _percentiles(idle),
        "catch_up": {**_percentiles(runs), "pages": pages, "changes_received": received,
                     "conversations_listed": conversations},
        "edits_per_second": round(changes / edit_seconds),
    }
