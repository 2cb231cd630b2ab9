"""The search step (issue 15): ``GET /api/v1/search/messages`` at a million messages.

A scratch database (SQLite file or PostgreSQL, migrated) is loaded in bulk by
SQL, as bench/dataset.py does (users, direct conversations, groups, memberships,
then the messages; the search index is kept by the database itself while they go
in: FTS5 triggers, the generated tsvector and its GIN index). One server process
(``python wsgi.py``, as ``make run``) answers a searcher who belongs to about 40 of
the ~1,800 conversations, over HTTP on loopback, one request at a time, the shapes
interleaved so that a shared machine's drift hits all of them:

- ``common``: one word in ~2% of messages ("meeting");
- ``rare``: one word in ~40 messages, a dozen of them the searcher's ("xylophone");
- ``two_words``: "project deadline" (each common, together ~0.3%);
- ``prefix``: "proj" (project, projector, projection);
- ``accent``: "cafe" finding "café";
- ``one_conversation``: "tomorrow" in the searcher's busiest conversation, and
  ``one_small_conversation`` in one of their quietest;
- ``paging``: pages 2 to 5 of ``common``, through ``next_cursor``.

Reported beside the target (the extremes): a stopword in half of all messages
("the"), a word frequent elsewhere but absent from the searcher's conversations
("zebra"), a one-letter prefix ("t"). Target: p99 <= 50 ms for each target shape,
on SQLite and PostgreSQL.

Last, the index's cost on the write path: single-message INSERT transactions
straight through the driver, with the index and without it (SQLite: triggers
dropped and restored, alternating; PostgreSQL: the column and index dropped once).
"""

from __future__ import annotations

import bisect
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from bench import dataset

TARGET_P99_MS = 50
TARGET_SHAPES = ("common", "rare", "two_words", "prefix", "accent", "one_conversation", "one_small_conversation",
                 "paging")
EXTREME_SHAPES = ("stopword", "absent", "one_letter")

# The most frequent English words, most frequent first (Zipf weights below).
COMMON = (
    "the be to of and a in that have i it for not on with he as you do at this but his by from they we say her she "
    "or an will my one all would there their what so up out if about who get which go me when make can like time no "
    "just him know take people into year your good some could them see other than then now look only come its over "
    "think also back after use two how our work first well way even new want because any these give day most us is "
    "are was were been has had did said ok yes thanks great sure lol maybe tonight later today please sorry call "
    "send check let done need still really right here going got"
).split()
SYLLABLES = ("ka lo mi ne ru sa ti vo ze ba de fi go hu ja pe qu xi yo wa ch st tr pl en or an el is um".split())


@dataclass
class SearchData:
    searcher: int
    token: str
    conversations: list[int]  # the searcher's
    busiest: int
    quietest: int
    conversation_messages: dict[int, int]  # the searcher's conversations: messages each
    messages: int
    searcher_messages: int
    planted: Counter[str] = field(default_factory=Counter)
    load_seconds: dict[str, float] = field(default_factory=dict)


def _vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[float]]:
    words = list(COMMON)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = list(itertools.accumulate(1 / (rank + 1) ** 1.07 for rank in range(len(words))))
    return words, weights


def load(url: str, messages: int, *, seed: int = 15) -> SearchData:
    """Users, conversations and ``messages`` messages, in bulk; returns what the queries need."""
    rng = random.Random(seed)
    loader = dataset.Loader(url)
    ds = dataset.Dataset()
    t0 = time.monotonic()
    users = dataset.add_users(loader, ds, 2000)
    searcher = users[0]
    conv_id = loader.next_id("conversations")
    convs, members, member_lists = [], [], {}
    mine: list[int] = []
    # 1,500 direct conversations between random pairs, 25 of them the searcher's.
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < 1500:
        a = searcher if len(pairs) < 25 else rng.choice(users)
        b = rng.choice(users[1:])
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    for a, b in sorted(pairs):
        convs.append((conv_id, "direct", None, "private", "all", f"{a}:{b}", 0, 0, dataset.STAMP, dataset.STAMP))
        member_lists[conv_id] = [a, b]
        conv_id += 1
    # 300 groups of 5-30 members, 15 of them with the searcher.
    for n in range(300):
        group = rng.sample(users[1:], rng.randint(5, 30))
        if n < 15:
            group[0] = searcher
        convs.append((conv_id, "group", f"group {n}", "private", "all", None, 0, 0, dataset.STAMP, dataset.STAMP))
        member_lists[conv_id] = sorted(set(group))
        conv_id += 1
    for cid, ids in member_lists.items():
        members += [(cid, uid, "member", 0, 0, 0, dataset.STAMP, *dataset.V2_MEMBER) for uid in ids]
        if searcher in ids:
            mine.append(cid)
    loader.insert("conversations", dataset.CONV_COLUMNS, convs)
    loader.insert("memberships", dataset.MEMBER_COLUMNS, members)
    loader.commit()
    # Activity: a few busy conversations, a long quiet tail (Zipf over a shuffled order).
    order = list(member_lists)
    rng.shuffle(order)
    activity = list(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(order))))
    words, weights = _vocabulary(rng, 20_000)
    mine_set = set(mine)
    planted: Counter[str] = Counter()
    seqs: Counter[int] = Counter()
    columns = ("id", "conversation_id", "seq", "sender_id", "body", "client_id", "created_at", "edited_at", "deleted",
               "version")
    mid = loader.next_id("messages")
    batch: list[tuple] = []
    rare_rate_mine, rare_rate_other = 12 / (messages * 0.03), 28 / (messages * 0.97)

    def plant(body: list[str], word: str, rate: float) -> None:
        if rng.random() < rate:
            body.insert(rng.randint(0, len(body)), word)
            planted[word] += 1

    t1 = time.monotonic()
    for _ in range(messages):
        cid = order[bisect.bisect(activity, rng.random() * activity[-1])]
        seqs[cid] += 1
        body = rng.choices(words, cum_weights=weights, k=rng.randint(3, 14))
        plant(body, "meeting", 0.02)
        plant(body, "tomorrow", 0.03)
        if rng.random() < 0.015:
            body.append("project")
            planted["project"] += 1
            plant(body, "deadline", 0.2)
        plant(body, "projector", 0.002)
        plant(body, "projection", 0.001)
        plant(body, "café", 0.004)
        if cid in mine_set:
            plant(body, "xylophone", rare_rate_mine)
        else:
            plant(body, "xylophone", rare_rate_other)
            plant(body, "zebra", 0.02)
        sender = rng.choice(member_lists[cid])
        batch.append((mid, cid, seqs[cid], sender, " ".join(body), f"s{mid}", dataset.STAMP, None, False, seqs[cid]))
        mid += 1
        if len(batch) >= 50_000:
            loader.insert("messages", columns, batch)
            loader.commit()
            batch = []
    loader.insert("messages", columns, batch)
    loader.commit()
    t2 = time.monotonic()
    # Each conversation's last_seq/version as the send path leaves them.
    cur = loader.conn.cursor()
    marker = "%s" if loader.pg else "?"
    cur.executemany(f"UPDATE conversations SET last_seq = {marker}, version = {marker} WHERE id = {marker}",
                    [(n, n, cid) for cid, n in seqs.items()])
    loader.commit()
    loader.fix_sequences()
    if loader.pg:
        loader.conn.autocommit = True
        loader.conn.cursor().execute("VACUUM ANALYZE")  # what autovacuum does: GIN pending list and statistics
    else:
        loader.analyze()
    t3 = time.monotonic()
    loader.close()
    busiest = max(mine, key=lambda c: seqs[c])
    quietest = min((c for c in mine if seqs[c] >= 20), key=lambda c: seqs[c], default=busiest)
    return SearchData(
        searcher=searcher, token=ds.tokens[searcher], conversations=mine, busiest=busiest, quietest=quietest,
        conversation_messages={c: seqs[c] for c in mine},
        messages=messages, searcher_messages=sum(seqs[c] for c in mine), planted=planted,
        load_seconds={"users_and_conversations": round(t1 - t0, 1), "messages": round(t2 - t1, 1),
                      "vacuum_analyze": round(t3 - t2, 1)},
    )


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "samples": len(ordered)}


def shapes(data: SearchData) -> dict[str, dict]:
    return {
        "common": {"q": "meeting"},
        "rare": {"q": "xylophone"},
        "two_words": {"q": "project deadline"},
        "prefix": {"q": "proj"},
        "accent": {"q": "cafe"},
        "one_conversation": {"q": "tomorrow", "conversation_id": data.busiest},
        "one_small_conversation": {"q": "tomorrow", "conversation_id": data.quietest},
        "stopword": {"q": "the"},
        "absent": {"q": "zebra"},
        "one_letter": {"q": "t"},
    }


def measure_queries(server_url: str, data: SearchData, samples: int, log: Callable[[str], None]) -> dict:
    from bench.push import cpu_pressure_avg10

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {data.token}"
    endpoint = server_url + "/api/v1/search/messages"

    def get(params: dict) -> dict:
        response = session.get(endpoint, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    plan = shapes(data)
    # Pages 2-5 of "common": their cursors, walked once.
    cursors, params = [], dict(plan["common"])
    for _ in range(4):
        cursor = get(params)["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
        params = {**plan["common"], "cursor": cursor}
    first = {name: get(p) for name, p in plan.items()}
    for _ in range(10):  # warm up: connection, statement caches, the database's pages
        for p in plan.values():
            get(p)
    timings: dict[str, list[float]] = {name: [] for name in [*plan, "paging"]}
    rng = random.Random(4)
    pressure = []
    for n in range(samples):
        if n % 10 == 0:
            pressure.append(cpu_pressure_avg10())
        for name, p in [*plan.items(), ("paging", None)]:
            if p is None:
                if not cursors:
                    continue
                p = {**plan["common"], "cursor": rng.choice(cursors)}
            t0 = time.perf_counter()
            get(p)
            timings[name].append(time.perf_counter() - t0)
        if n and n % max(1, samples // 4) == 0:
            log(f"search: {n}/{samples} rounds")
    out: dict = {"_cpu_pressure_avg10": [v for v in pressure if v is not None]}
    for name, values in timings.items():
        if not values:
            continue
        answer = first.get(name) or first["common"]
        out[name] = {**_percentiles(values), "params": plan.get(name, {**plan["common"], "cursor": "pages 2-5"}),
                     "results": len(answer["results"]), "has_next": answer["next_cursor"] is not None}
    return out


def write_cost(url: str, data: SearchData, inserts: int) -> dict:
    """µs per single-message INSERT transaction (straight through the driver), with and without the index."""
    loader = dataset.Loader(url)
    cur = loader.conn.cursor()
    marker = "%s" if loader.pg else "?"
    cid = data.conversations[0]
    cur.execute(f"SELECT MAX(seq) FROM messages WHERE conversation_id = {marker}", (cid,))
    seq = cur.fetchone()[0] or 0
    bodies = [" ".join(random.Random(n).choices(COMMON, k=9)) for n in range(200)]
    insert = (f"INSERT INTO messages (conversation_id, seq, sender_id, body, client_id, created_at, deleted, version) "
              f"VALUES ({marker}, {marker}, {marker}, {marker}, {marker}, {marker}, {marker}, 0)")
    if not loader.pg:
        loader.conn.isolation_level = None  # explicit BEGIN/COMMIT: one transaction per message, as a send
        loader.conn.execute("PRAGMA synchronous=NORMAL")  # the server's setting (chatapp/__init__.py)

    def block(count: int) -> list[float]:
        nonlocal seq
        spent = []
        for _ in range(count):
            seq += 1
            row = (cid, seq, data.searcher, bodies[seq % len(bodies)], f"w{seq}", dataset.STAMP, False)
            t0 = time.perf_counter()
            if loader.pg:
                cur.execute(insert, row)
                loader.conn.commit()
            else:
                cur.execute("BEGIN")
                cur.execute(insert, row)
                cur.execute("COMMIT")
            spent.append(time.perf_counter() - t0)
        return spent

    with_index: list[float] = []
    without: list[float] = []
    if loader.pg:
        with_index += block(inserts)
        cur.execute("DROP INDEX ix_messages_search_vector")
        cur.execute("ALTER TABLE messages DROP COLUMN search_vector")
        loader.conn.commit()
        without += block(inserts)
        layout = "with the index, then (column and GIN index dropped) without"
    else:
        from chatapp.models import search as index

        cur.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN "
                    f"({','.join('?' * len(index.SQLITE_TRIGGER_NAMES))})", index.SQLITE_TRIGGER_NAMES)
        triggers = cur.fetchall()
        rounds = 4
        for _ in range(rounds):
            with_index += block(inserts // rounds)
            for name, _sql in triggers:
                cur.execute(f"DROP TRIGGER {name}")
            without += block(inserts // rounds)
            for _name, sql in triggers:
                cur.execute(sql)
        layout = f"alternating blocks of {inserts // rounds} (triggers dropped and restored)"
    loader.close()
    with_us = statistics.median(with_index) * 1e6
    without_us = statistics.median(without) * 1e6
    return {"inserts_each": len(with_index), "layout": layout, "with_index_us": round(with_us),
            "without_index_us": round(without_us), "index_us": round(with_us - without_us),
            "with_p99_us": round(sorted(with_index)[int(len(with_index) * 0.99)] * 1e6),
            "without_p99_us": round(sorted(without)[int(len(without) * 0.99)] * 1e6)}


def measure(p: dict, db: str, log: Callable[[str], None] = print) -> dict:
    from bench import run
    from bench.push import wait_for_quiet

    with run.scratch_db(db) as url:
        log(f"search/{db}: loading {p['search_messages']:,} messages")
        data = load(url, p["search_messages"])
        log(f"search/{db}: loaded in {data.load_seconds}")
        with run.servers(url) as (srv,):
            quiet = wait_for_quiet(p["search_quiet_pct"], p["search_quiet_wait"])
            log(f"search/{db}: CPU pressure {quiet['cpu_pressure_avg10']}% after {quiet['waited_seconds']} s")
            queries = measure_queries(srv.url, data, p["search_samples"], log)
        writes = write_cost(url, data, p["search_write_inserts"])
    return {
        "messages": data.messages, "searcher_conversations": len(data.conversations),
        "searcher_messages": data.searcher_messages,
        "busiest_conversation_messages": data.conversation_messages[data.busiest],
        "small_conversation_messages": data.conversation_messages[data.quietest], "load_seconds": data.load_seconds,
        "planted": dict(data.planted), "cpu_pressure_avg10_during": queries.pop("_cpu_pressure_avg10"),
        "quiet_at_start": quiet, "shapes": queries, "write_cost": writes,
    }
