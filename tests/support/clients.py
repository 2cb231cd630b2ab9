"""Real python-socketio clients that record every event they receive."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
import socketio

NAMESPACE = "/chat"
EVENTS = (
    "ready", "message:new", "message:updated", "message:deleted", "typing", "presence", "read", "unread",
    "delivered", "conversation:new", "conversation:updated", "member:joined", "member:left", "session:revoked",
    "user:updated",
)


class Api:
    """A REST caller bound to one bearer token."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)


def register(base_url: str, username: str | None = None, password: str = "correct horse") -> dict:
    """Register a fresh user; returns {user, token, api}."""
    name = username or f"u{uuid.uuid4().hex[:10]}"
    response = requests.post(
        base_url + "/api/v1/auth/register", json={"username": name, "password": password}, timeout=10
    )
    assert response.status_code == 201, response.text
    body = response.json()
    body["api"] = Api(base_url, body["token"])
    body["password"] = password
    return body


class Device:
    """One connected device: a python-socketio client over a chosen transport."""

    def __init__(self, base_url: str, token: str, transport: str = "websocket", **client_kw: Any) -> None:
        self.base_url = base_url
        self.token = token
        self.transport = transport
        self.client = socketio.Client(reconnection=False, **client_kw)
        self.events: list[tuple[str, Any]] = []
        self.ready = threading.Event()
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        for name in EVENTS:
            self.client.on(name, self._recorder(name), namespace=NAMESPACE)
        self.client.on("disconnect", lambda *a: self.disconnected.set(), namespace=NAMESPACE)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            with self._lock:
                self.events.append((name, data))
            if name == "ready":
                self.ready.set()

        return record

    def connect(self, wait_ready: bool = True) -> Device:
        self.client.connect(
            self.base_url, namespaces=[NAMESPACE], auth={"token": self.token}, transports=[self.transport],
            wait_timeout=10,
        )
        if wait_ready:
            assert self.ready.wait(10), "no ready event"
        return self

    def call(self, event: str, payload: Any = None, timeout: float = 10) -> Any:
        return self.client.call(event, payload, namespace=NAMESPACE, timeout=timeout)

    def call_all(self, event: str, payloads: list[Any], timeout: float = 15) -> list[Any]:
        """``event`` with each payload, all at once from one thread each (the client
        sends what they queued meanwhile together); the acks in payload order."""
        acks: list[Any] = [None] * len(payloads)

        def call(index: int) -> None:
            acks[index] = self.call(event, payloads[index], timeout=timeout)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(payloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return acks

    def of(self, name: str) -> list[Any]:
        with self._lock:
            return [data for event, data in self.events if event == name]

    def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data in self.of(name):
                if predicate(data):
                    return data
            time.sleep(0.02)
        raise AssertionError(f"no {name!r} event matching within {timeout}s; got {self.of(name)!r:.500}")

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
