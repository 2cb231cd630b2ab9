"""Which workers hold a room's sockets: the route table in Redis, so an emit reaches only them.

Stock python-socketio publishes every emit on one channel that every worker
subscribes to and decodes, so each worker pays for every event of the cluster.
Here each worker listens on a channel of its own (``<channel>:w:<host_id>``)
besides the common one, and keeps, for every routed room (``user:<id>``,
``token:<id>``) with a socket on it, its host id in the room's set
``<channel>:route:<namespace>:<room>``. An emit to routed rooms is published by
one Lua script that reads those sets and publishes the message once on the
channel of each worker holding any of the rooms (the sender excluded: it has
delivered locally). Everything else (rooms of other kinds, broadcasts,
python-socketio's control messages, ``disconnect_room``) keeps the common channel.

Why this is safe under races (pub/sub stays at-most-once; clients ``sync``):

* Connect on worker B while an event for that user is published: B adds itself
  to the user's set (and waits for Redis' reply) after the socket joined its
  rooms locally and before the ``ready`` snapshot is read from the database.
  The script reads the set and publishes atomically. Either it ran after B's
  SADD, and B (subscribed to its channel since start-up) gets the event, or
  before, and then the event's commit preceded the publish, the SADD and the
  snapshot, so ``ready`` already counts it. No event after ``ready`` is lost.
* Updates of one room are serialized per worker (one lock around the local
  decision and the Redis reply), so a quick disconnect/reconnect cannot leave
  Redis without the host while its socket is there.
* A killed worker's entries stay until its liveness key
  (``<channel>:alive:<host_id>``, refreshed every ``ALIVE_REFRESH_SECONDS``,
  expiring after ``ALIVE_SECONDS``) expires; the script then skips and
  removes them. A worker whose key went missing (Redis restarted or flushed,
  the worker stalled) re-adds its key and every route in one transaction, the
  key first, then asks its sockets to ``sync``.

A group emit costs one publish per worker holding members (not per member),
and a worker decodes it once. Not for Redis Cluster: the script names keys
and channels it computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Room kinds whose sockets are tracked in the route table (services/accounts.py's
# user_room and token_room). A room of any other kind travels on the common channel.
ROUTED_PREFIXES = ("user:", "token:")

ALIVE_SECONDS = 30
ALIVE_REFRESH_SECONDS = 5.0

# KEYS: the rooms' route sets. ARGV: the sender's host id, the channel base, the message.
# Returns how many workers it was published to.
PUBLISH_TO_HOLDERS = """
local me, base, payload = ARGV[1], ARGV[2], ARGV[3]
local hosts, order = {}, {}
for _, key in ipairs(KEYS) do
  for _, host in ipairs(redis.call('SMEMBERS', key)) do
    if host ~= me and hosts[host] == nil then
      hosts[host] = true
      order[#order + 1] = host
    end
  end
end
local sent = 0
for _, host in ipairs(order) do
  if redis.call('EXISTS', base .. ':alive:' .. host) == 1 then
    redis.call('PUBLISH', base .. ':w:' .. host, payload)
    sent = sent + 1
  else
    for _, key in ipairs(KEYS) do redis.call('SREM', key, host) end
  end
end
return sent
"""


def is_routed(room: object) -> bool:
    return isinstance(room, str) and room.startswith(ROUTED_PREFIXES)


def routed_rooms(message: object) -> list[str] | None:
    """The rooms of an emit that the route table can address, or None when it
    must travel on the common channel (another kind of room, a broadcast, a callback)."""
    if not isinstance(message, dict) or message.get("method") != "emit" or message.get("callback") is not None:
        return None
    room = message.get("room")
    rooms = [room] if isinstance(room, str) else room
    if not isinstance(rooms, list) or not rooms or not all(is_routed(r) for r in rooms):
        return None
    return rooms


class RouteTable:
    """One worker's entries in the route table, and the publish that reads it."""

    def __init__(self, base: str, host_id: str) -> None:
        self.base = base
        self.host_id = host_id
        self.channel = worker_channel(base, host_id)
        self.alive_key = f"{base}:alive:{host_id}"
        self._script: Any = None

    def route_key(self, namespace: str, room: str) -> str:
        return f"{self.base}:route:{namespace}:{room}"

    def add(self, redis: Any, namespace: str, room: str) -> None:
        redis.sadd(self.route_key(namespace, room), self.host_id)

    def remove(self, redis: Any, namespace: str, room: str) -> None:
        redis.srem(self.route_key(namespace, room), self.host_id)

    def refresh_alive(self, redis: Any) -> bool:
        """Extend this worker's liveness; False when the key was gone (its routes may have been pruned)."""
        return redis.set(self.alive_key, "1", ex=ALIVE_SECONDS, get=True) is not None

    def register_all(self, redis: Any, rooms: Iterable[tuple[str, str]]) -> None:
        """The liveness key, then every route, in one transaction (see the module docstring)."""
        pipe = redis.pipeline(transaction=True)
        pipe.set(self.alive_key, "1", ex=ALIVE_SECONDS)
        for namespace, room in rooms:
            pipe.sadd(self.route_key(namespace, room), self.host_id)
        pipe.execute()

    def forget_all(self, redis: Any, rooms: Iterable[tuple[str, str]]) -> None:
        pipe = redis.pipeline(transaction=False)
        pipe.delete(self.alive_key)
        for namespace, room in rooms:
            pipe.srem(self.route_key(namespace, room), self.host_id)
        pipe.execute()

    def publish(self, redis: Any, keys: Sequence[str], payload: str | bytes) -> int:
        """Publish ``payload`` once to every other live worker holding a socket in any of ``keys``' rooms."""
        if self._script is None:
            self._script = redis.register_script(PUBLISH_TO_HOLDERS)
        return int(self._script(keys=list(keys), args=[self.host_id, self.base, payload], client=redis))


def worker_channel(base: str, host_id: str) -> str:
    return f"{base}:w:{host_id}"
