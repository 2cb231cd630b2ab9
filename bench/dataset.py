"""Bulk-load benchmark data straight into a scratch database.

Registration hashes passwords with Argon2 on purpose (~50 ms each), so the
benchmark never registers: it inserts users whose password hash is unusable
("!" never verifies) and API tokens stored, as the server stores them, by
their SHA-256. Messages go in by COPY (PostgreSQL) or executemany (SQLite),
in (conversation_id, seq) order so that index maintenance is an append.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
STAMP = NOW.strftime("%Y-%m-%d %H:%M:%S.000000")


@dataclass
class Dataset:
    tokens: dict[int, str] = field(default_factory=dict)  # user id -> bearer token
    direct_pairs: list[tuple[int, int, int]] = field(default_factory=list)  # (user a, user b, conversation)
    groups: list[tuple[int, list[int]]] = field(default_factory=list)  # (conversation, member ids)
    history: list[tuple[int, int]] = field(default_factory=list)  # (conversation, last_seq)
    idle_users: list[int] = field(default_factory=list)
    history_reader: int | None = None
    message_count: int = 0
    load_seconds: dict[str, float] = field(default_factory=dict)


class Loader:
    """Thin layer over sqlite3 / psycopg2 so both databases load the same rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgres")
        if self.pg:
            import psycopg2

            self.conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"))
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=OFF")
        self.next_ids: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        if table not in self.next_ids:
            cur = self.conn.cursor()
            cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            self.next_ids[table] = cur.fetchone()[0] + 1
        value = self.next_ids[table]
        return value

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        if "id" in columns:
            self.next_ids[table] = max(r[columns.index("id")] for r in rows) + 1
        if self.pg:
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join(_pg_text(v) for v in row) + "\n")
            buf.seek(0)
            self.conn.cursor().copy_from(buf, table, columns=columns)
        else:
            marks = ",".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self.conn.commit()

    def fix_sequences(self) -> None:
        if not self.pg:
            return
        cur = self.conn.cursor()
        for table in ("users", "api_tokens", "conversations", "messages"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
        self.conn.commit()

    def analyze(self) -> None:
        cur = self.conn.cursor()
        cur.execute("ANALYZE")
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def _pg_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def add_users(loader: Loader, ds: Dataset, count: int) -> list[int]:
    first = loader.next_id("users")
    ids = list(range(first, first + count))
    tag = secrets.token_hex(3)
    users, tokens = [], []
    token_id = loader.next_id("api_tokens")
    for uid in ids:
        token = f"bench-{tag}-{uid}-{secrets.token_hex(12)}"
        ds.tokens[uid] = token
        users.append((uid, f"b{tag}{uid}", f"Bench {uid}", "!", STAMP, None, True))
        tokens.append((token_id, uid, hashlib.sha256(token.encode()).hexdigest(), "bench", STAMP, None, None))
        token_id += 1
    loader.insert("users", ("id", "username", "display_name", "password_hash", "created_at", "last_seen_at", "active"), users)
    loader.insert(
        "api_tokens", ("id", "user_id", "token_hash", "device_name", "created_at", "last_used_at", "revoked_at"), tokens
    )
    return ids


# version = last_seq: as the migration sets it for existing rows (each message one change).
CONV_COLUMNS = (
    "id", "type", "name", "visibility", "posting", "direct_key", "last_seq", "version", "created_at", "updated_at",
)
MEMBER_COLUMNS = (
    "conversation_id", "user_id", "role", "last_read_seq", "delivered_seq", "unread_count", "joined_at",
    "unread_mentions", "notifications", "pushed_seq",
)
# v2 (push and mentions): no unread mentions, level "all", nothing pushed. NOT NULL
# without a server default (the services always set them), so the loader must too.
V2_MEMBER = (0, "all", 0)


def add_direct_pairs(loader: Loader, ds: Dataset, user_ids: list[int], record: bool = True) -> None:
    """Pairs (0,1), (2,3), ...: one direct conversation each."""
    cid = loader.next_id("conversations")
    convs, members = [], []
    for a, b in zip(user_ids[0::2], user_ids[1::2]):
        convs.append((cid, "direct", None, "private", "all", f"{min(a, b)}:{max(a, b)}", 0, 0, STAMP, STAMP))
        members += [(cid, a, "member", 0, 0, 0, STAMP, *V2_MEMBER), (cid, b, "member", 0, 0, 0, STAMP, *V2_MEMBER)]
        if record:
            ds.direct_pairs.append((a, b, cid))
        cid += 1
    loader.insert("conversations", CONV_COLUMNS, convs)
    loader.insert("memberships", MEMBER_COLUMNS, members)


def add_group(loader: Loader, ds: Dataset, member_ids: list[int], last_seq: int = 0) -> int:
    cid = loader.next_id("conversations")
    row = (cid, "group", f"bench {cid}", "private", "all", None, last_seq, last_seq, STAMP, STAMP)
    loader.insert("conversations", CONV_COLUMNS, [row])
    rows = [(cid, uid, "owner" if i == 0 else "member", last_seq, last_seq, 0, STAMP, *V2_MEMBER)
            for i, uid in enumerate(member_ids)]
    loader.insert("memberships", MEMBER_COLUMNS, rows)
    ds.groups.append((cid, member_ids))
    return cid


def add_history(loader: Loader, ds: Dataset, total_messages: int, conversations: int = 100) -> None:
    """``total_messages`` spread over ``conversations`` two-member groups that one
    reader belongs to, so history pages hit a table of the full size."""
    t0 = time.monotonic()
    reader, other = add_users(loader, ds, 2)
    ds.history_reader = reader
    per_conv = max(1, total_messages // conversations)
    mid = loader.next_id("messages")
    columns = (
        "id", "conversation_id", "seq", "sender_id", "body", "client_id", "created_at", "edited_at", "deleted", "version",
    )
    body = "a benchmark message of about forty chars"
    for _ in range(conversations):
        cid = add_group(loader, ds, [reader, other], last_seq=per_conv)
        ds.groups.pop()  # history groups are not message-workload rooms
        ds.history.append((cid, per_conv))
        batch: list[tuple] = []
        for seq in range(1, per_conv + 1):
            sender = reader if seq % 2 else other
            batch.append((mid, cid, seq, sender, body, f"h{seq}", STAMP, None, False, seq))
            mid += 1
            if len(batch) >= 50_000:
                loader.insert("messages", columns, batch)
                batch = []
        loader.insert("messages", columns, batch)
        loader.commit()
    ds.message_count += per_conv * conversations
    ds.load_seconds["history"] = round(time.monotonic() - t0, 1)


def build(url: str, *, idle_users: int = 0, dm_pairs: int = 0, group_size: int = 0, history_messages: int = 0) -> Dataset:
    loader = Loader(url)
    ds = Dataset()
    t0 = time.monotonic()
    if idle_users:
        # Idle sockets have one direct conversation each, like a real account.
        ds.idle_users = add_users(loader, ds, idle_users)
        add_direct_pairs(loader, ds, ds.idle_users, record=False)
    dm_users = add_users(loader, ds, dm_pairs * 2) if dm_pairs else []
    if dm_users:
        add_direct_pairs(loader, ds, dm_users)
    if group_size:
        add_group(loader, ds, add_users(loader, ds, group_size))
    loader.commit()
    ds.load_seconds["users"] = round(time.monotonic() - t0, 1)
    if history_messages:
        add_history(loader, ds, history_messages)
    loader.fix_sequences()
    loader.analyze()
    loader.close()
    return ds
