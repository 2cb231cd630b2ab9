"""``python wsgi.py`` listens with TCP_NODELAY in every green async mode.

Without it a small ack that follows another small frame waits for the
client's delayed ACK (40 ms on Linux); the soak measured that on 10-20 % of
acks. The check runs the real listener factory in a fresh interpreter that is
monkey-patched exactly as wsgi.py patches it, accepts a real connection and
reads the option off the accepted socket (Linux inherits it from the listener).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.server import PYTHON, ROOT

PATCH = {
    "eventlet": "import eventlet; eventlet.monkey_patch()",
    "gevent": "from gevent import monkey; monkey.patch_all()",
}

PROBE = """
{patch}
import socket
from chatapp.serving import nodelay_listener
listener = nodelay_listener("127.0.0.1", 0)
client = socket.create_connection(listener.getsockname()[:2])
accepted, _ = listener.accept()
print(type(accepted).__module__, accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
"""


@pytest.mark.parametrize("mode", sorted(PATCH))
def test_accepted_connections_skip_nagle(mode):
    result = subprocess.run(
        [PYTHON, "-W", "ignore::DeprecationWarning", "-c", PROBE.format(patch=PATCH[mode])],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, nodelay = result.stdout.split()
    assert mode in module, f"{module}: the listener is not green under {mode}"
    assert int(nodelay) != 0
