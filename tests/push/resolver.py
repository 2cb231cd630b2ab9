"""A resolver double: names the test maps, plus the few the machine resolves
without DNS (localhost, numeric forms); anything else does not exist."""

from __future__ import annotations

import socket
from typing import Any

import pytest

_REAL = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "2130706433", "0x7f.1", "017700000001", "127.1"}


class Resolver:
    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if name in self.names:
            answers: list[Any] = []
            for address in self.names[name]:
                answers.extend(_REAL(address, port, *args, **kwargs))
            return answers
        if name in _LOCAL_NAMES or _is_literal(name):
            return _REAL(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _is_literal(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    resolver = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver
