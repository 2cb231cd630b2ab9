"""Shared, expiring state: presence connections, throttles and rate-limit buckets.

Two backends behind one interface. ``MemoryState`` serves the embedded single
process; ``RedisState`` serves several workers, which must all see the same
truth (python-socketio's own room lists are per process). Every entry expires,
so a worker killed with SIGKILL cannot leave a user online forever.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

import redis


class SharedState(Protocol):
    def acquire(self, key: str, ttl_seconds: float) -> bool:
        """Set ``key`` unless present; True when this caller set it (a throttle)."""

    def release(self, key: str) -> None:
        """Drop a key set by ``acquire`` before it expires."""

    def take_token(self, key: str, burst: int, per_second: float) -> float:
        """Token bucket: 0.0 when allowed, else seconds until a token is available."""

    def presence_add(self, user_id: int, conn_id: str, ttl_seconds: float) -> int:
        """Record a live connection; returns the user's live connection count."""

    def presence_connect(self, user_id: int, conn_id: str, ttl_seconds: float) -> tuple[int, bool]:
        """As ``presence_add``, atomically with ``presence_claim``: (live count, newly indexed).

        Newly indexed means nobody had announced this user online (first
        device, or the user had settled offline): the caller announces online.
        A reconnect within the grace period finds the user still indexed.
        """

    def presence_claim(self, user_id: int) -> bool:
        """Put the user in the index; True when they were not there."""

    def presence_remove(self, user_id: int, conn_id: str) -> int:
        """Forget a connection; returns the user's remaining live connection count."""

    def presence_refresh(self, entries: Iterable[tuple[int, str]], ttl_seconds: float) -> None:
        """Heartbeat: push the expiry of these live connections forward."""

    def presence_count(self, user_id: int) -> int: ...

    def presence_index(self) -> set[int]:
        """Users that were online at some point and not yet settled offline."""

    def presence_forget(self, user_id: int) -> bool:
        """Drop a user from the index once their offline state is published;
        True when they were indexed (exactly one caller wins)."""

    def online_users(self, user_ids: Iterable[int]) -> set[int]: ...

    def ping(self) -> bool: ...


# Rate-limit buckets kept in memory at most. Keys come from clients (login
# names, addresses), so without a bound 5,000 distinct names were 5,001
# entries forever. A bucket that has refilled is the same as no bucket, so
# those go first; past the bound the least recently used go (its owner then
# starts with a full burst, never with less).
MAX_BUCKETS = 10_000


class MemoryState:
    """In-process backend for the embedded mode (one process, no Redis)."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, float] = {}
        # key -> (tokens, stamp, moment the bucket is full again), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self.max_buckets = max_buckets
        self._presence: dict[int, dict[str, float]] = {}
        self._index: set[int] = set()

    def acquire(self, key: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._keys.get(key, 0.0) > now:
                return False
            self._keys[key] = now + ttl_seconds
            if len(self._keys) > 10_000:
                self._keys = {k: v for k, v in self._keys.items() if v > now}
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def take_token(self, key: str, burst: int, per_second: float) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, stamp, _full = self._buckets.pop(key, (float(burst), now, now))
            tokens = min(float(burst), tokens + (now - stamp) * per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / per_second
            self._buckets[key] = (tokens, now, now + (burst - tokens) / per_second)
            if len(self._buckets) > self.max_buckets:
                self._trim_buckets(now)
            return wait

    def _trim_buckets(self, now: float) -> None:
        # Amortised: runs once the bound is passed, and leaves room for a tenth more.
        target = self.max_buckets * 9 // 10
        refilled = [k for k, (_t, _s, full) in self._buckets.items() if full <= now]
        for key in refilled:
            del self._buckets[key]
        while len(self._buckets) > target:
            self._buckets.popitem(last=False)

    def bucket_count(self) -> int:
        with self._lock:
            return len(self._buckets)

    def _live(self, user_id: int, now: float) -> dict[str, float]:
        conns = self._presence.get(user_id, {})
        live = {c: exp for c, exp in conns.items() if exp > now}
        if live:
            self._presence[user_id] = live
        else:
            self._presence.pop(user_id, None)
        return live

    def presence_add(self, user_id: int, conn_id: str, ttl_seconds: float) -> int:
        now = time.monotonic()
        with self._lock:
            self._presence.setdefault(user_id, {})[conn_id] = now + ttl_seconds
            self._index.add(user_id)
            return len(self._live(user_id, now))

    def presence_connect(self, user_id: int, conn_id: str, ttl_seconds: float) -> tuple[int, bool]:
        now = time.monotonic()
        with self._lock:
            fresh = user_id not in self._index
            self._presence.setdefault(user_id, {})[conn_id] = now + ttl_seconds
            self._index.add(user_id)
            return len(self._live(user_id, now)), fresh

    def presence_claim(self, user_id: int) -> bool:
        with self._lock:
            fresh = user_id not in self._index
            self._index.add(user_id)
            return fresh

    def presence_remove(self, user_id: int, conn_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            self._presence.get(user_id, {}).pop(conn_id, None)
            return len(self._live(user_id, now))

    def presence_refresh(self, entries: Iterable[tuple[int, str]], ttl_seconds: float) -> None:
        expiry = time.monotonic() + ttl_seconds
        with self._lock:
            for user_id, conn_id in entries:
                conns = self._presence.get(user_id)
                if conns is not None and conn_id in conns:
                    conns[conn_id] = expiry

    def presence_count(self, user_id: int) -> int:
        with self._lock:
            return len(self._live(user_id, time.monotonic()))

    def presence_index(self) -> set[int]:
        with self._lock:
            return set(self._index)

    def presence_forget(self, user_id: int) -> bool:
        with self._lock:
            present = user_id in self._index
            self._index.discard(user_id)
            return present

    def online_users(self, user_ids: Iterable[int]) -> set[int]:
        now = time.monotonic()
        with self._lock:
            return {uid for uid in user_ids if self._live(uid, now)}

    def ping(self) -> bool:
        return True


# Token bucket evaluated atomically in Redis with Redis's own clock, so
# workers on different hosts agree.
_TAKE_TOKEN = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(v[1]) or burst
local stamp = tonumber(v[2]) or now
tokens = math.min(burst, tokens + (now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisState:
    """Backend shared by every worker. Presence is a sorted set per user whose
    scores are expiry times; a heartbeat pushes them forward."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
        self.prefix = prefix
        self._take_token = self.redis.register_script(_TAKE_TOKEN)

    def _key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def acquire(self, key: str, ttl_seconds: float) -> bool:
        return bool(self.redis.set(self._key("lock", key), 1, nx=True, px=max(1, int(ttl_seconds * 1000))))

    def release(self, key: str) -> None:
        self.redis.delete(self._key("lock", key))

    def take_token(self, key: str, burst: int, per_second: float) -> float:
        return float(self._take_token(keys=[self._key("bucket", key)], args=[burst, per_second]))

    def presence_add(self, user_id: int, conn_id: str, ttl_seconds: float) -> int:
        key, now = self._key("presence", user_id), time.time()
        pipe = self.redis.pipeline()
        pipe.zadd(key, {conn_id: now + ttl_seconds})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.expire(key, int(ttl_seconds) + 60)
        pipe.sadd(self._key("presence-index"), user_id)
        return int(pipe.execute()[2])

    def presence_connect(self, user_id: int, conn_id: str, ttl_seconds: float) -> tuple[int, bool]:
        key, now = self._key("presence", user_id), time.time()
        pipe = self.redis.pipeline()  # MULTI/EXEC: the count and the claim agree
        pipe.zadd(key, {conn_id: now + ttl_seconds})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.expire(key, int(ttl_seconds) + 60)
        pipe.sadd(self._key("presence-index"), user_id)
        result = pipe.execute()
        return int(result[2]), bool(result[4])

    def presence_claim(self, user_id: int) -> bool:
        return bool(self.redis.sadd(self._key("presence-index"), user_id))

    def presence_remove(self, user_id: int, conn_id: str) -> int:
        key, now = self._key("presence", user_id), time.time()
        pipe = self.redis.pipeline()
        pipe.zrem(key, conn_id)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        return int(pipe.execute()[2])

    def presence_refresh(self, entries: Iterable[tuple[int, str]], ttl_seconds: float) -> None:
        expiry = time.time() + ttl_seconds
        pipe = self.redis.pipeline(transaction=False)
        for user_id, conn_id in entries:
            key = self._key("presence", user_id)
            # XX: refresh only connections still registered (never resurrect).
            pipe.zadd(key, {conn_id: expiry}, xx=True)
            pipe.expire(key, int(ttl_seconds) + 60)
        pipe.execute()

    def presence_count(self, user_id: int) -> int:
        return int(self.redis.zcount(self._key("presence", user_id), time.time(), "+inf"))

    def presence_index(self) -> set[int]:
        return {int(uid) for uid in self.redis.smembers(self._key("presence-index"))}

    def presence_forget(self, user_id: int) -> bool:
        return bool(self.redis.srem(self._key("presence-index"), user_id))

    def online_users(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(user_ids)
        if not ids:
            return set()
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for uid in ids:
            pipe.zcount(self._key("presence", uid), now, "+inf")
        return {uid for uid, count in zip(ids, pipe.execute(), strict=True) if count}

    def ping(self) -> bool:
        return bool(self.redis.ping())


def create_state(redis_url: str | None, prefix: str) -> SharedState:
    return RedisState(redis_url, prefix) if redis_url else MemoryState()
