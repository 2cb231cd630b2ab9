"""A python-socketio client that follows the documented reconnection recipe.

1. sync by cursors on every connect (and on a server ``resync`` hint);
2. an outbox keyed by client_id, resent with the same client_id until acknowledged;
3. dedupe by message id.
It fails over between server URLs, as a client behind a load balancer does
when its worker dies.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import socketio

NAMESPACE = "/chat"


class ResilientClient:
    def __init__(self, urls: list[str], token: str, transport: str = "websocket") -> None:
        self.urls = urls
        self.token = token
        self.transport = transport
        self.messages: dict[int, dict] = {}  # by id: dedupe
        self.live_ids: set[int] = set()
        self.cursors: dict[int, int] = {}
        self.seqs: dict[int, set[int]] = {}
        self.outbox: dict[str, dict] = {}  # client_id -> payload, until acknowledged
        self.acked: dict[str, dict] = {}
        self.duplicates_seen = 0
        self.resync_hints = 0
        self.synced_at: float | None = None
        self.connected_url: str | None = None
        self._lock = threading.RLock()
        self._closing = False
        self._reconnecting = threading.Lock()
        self.client = self._new_client()

    # -------------------------------------------------------------- transport

    def _new_client(self) -> socketio.Client:
        client = socketio.Client(reconnection=False)
        client.on("message:new", self._on_message, namespace=NAMESPACE)
        client.on("ready", self._on_ready, namespace=NAMESPACE)
        client.on("resync", self._on_resync, namespace=NAMESPACE)
        client.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        return client

    def connect(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                self.client = self._new_client()
                self.client.connect(url, namespaces=[NAMESPACE], auth={"token": self.token},
                                    transports=[self.transport], wait_timeout=5)
                self.connected_url = url
                self._after_connect()
                return
            except Exception:
                time.sleep(min(0.2 * attempt, 1.0))
        raise AssertionError(f"could not reconnect to any of {self.urls}")

    def _after_connect(self) -> None:
        self.flush_outbox()
        self.sync()

    def _on_disconnect(self, *args: Any) -> None:
        if self._closing:
            return
        threading.Thread(target=self._reconnect, daemon=True).start()

    def _reconnect(self) -> None:
        if not self._reconnecting.acquire(blocking=False):
            return
        try:
            self.connect()
        finally:
            self._reconnecting.release()

    def close(self) -> None:
        self._closing = True
        try:
            self.client.disconnect()
        except Exception:
            pass  # already gone with its worker

    # -------------------------------------------------------------- events

    def _on_ready(self, data: dict) -> None:
        with self._lock:
            for conv in data.get("conversations", []):
                self.cursors.setdefault(conv["id"], 0)

    def _on_resync(self, *_: Any) -> None:
        self.resync_hints += 1
        threading.Thread(target=self._safe_sync, daemon=True).start()

    def _on_message(self, data: dict) -> None:
        self._store(data["message"], live=True)

    def _store(self, message: dict, live: bool = False) -> None:
        with self._lock:
            if message["id"] in self.messages:
                self.duplicates_seen += 1
            self.messages[message["id"]] = message
            if live:
                self.live_ids.add(message["id"])
            conv = message["conversation_id"]
            self.seqs.setdefault(conv, set()).add(message["seq"])
            # The cursor is the contiguous high-water mark: seq N+2 after N is a
            # gap (a message pub/sub dropped), and sync must start below it.
            cursor = self.cursors.get(conv, 0)
            while cursor + 1 in self.seqs[conv]:
                cursor += 1
            self.cursors[conv] = cursor
            gap = message["seq"] > cursor
        if live and gap:
            threading.Thread(target=self._safe_sync, daemon=True).start()

    # -------------------------------------------------------------- recipe

    def send(self, conversation_id: int, body: str, timeout: float = 3.0) -> str:
        client_id = str(uuid.uuid4())
        with self._lock:
            self.outbox[client_id] = {"conversation_id": conversation_id, "body": body, "client_id": client_id}
        self._try_send(client_id, timeout)
        return client_id

    def _try_send(self, client_id: str, timeout: float) -> None:
        payload = self.outbox.get(client_id)
        if payload is None:
            return
        try:
            ack = self.client.call("message:send", payload, namespace=NAMESPACE, timeout=timeout)
        except Exception:
            return  # stays in the outbox; resent after reconnect
        if isinstance(ack, dict) and ack.get("ok"):
            with self._lock:
                self.outbox.pop(client_id, None)
                self.acked[client_id] = ack["message"]
            self._store(ack["message"])

    def flush_outbox(self) -> None:
        for client_id in list(self.outbox):
            self._try_send(client_id, 3.0)

    def sync(self) -> None:
        while True:
            with self._lock:
                cursors = {str(c): s for c, s in self.cursors.items()}
            ack = self.client.call("sync", {"cursors": cursors}, namespace=NAMESPACE, timeout=10)
            assert ack["ok"], ack
            for message in ack["messages"]:
                self._store(message)
            if not ack["has_more"]:
                break
        self.synced_at = time.monotonic()

    def _safe_sync(self) -> None:
        try:
            self.sync()
        except Exception:
            pass  # the next connect syncs again
