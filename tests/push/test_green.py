"""Under eventlet and gevent (after monkey-patching, as wsgi.py does) the sender
is cooperative: pushes from green threads run side by side, and a stalled push
service delays only the push waiting on it, cut off at the timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, tempfile, time
if sys.argv[1] == "eventlet":
    import eventlet
    eventlet.monkey_patch()
    spawn, join = eventlet.spawn, lambda g: g.wait()
else:
    from gevent import monkey
    monkey.patch_all()
    import gevent
    spawn, join = gevent.spawn, lambda g: g.join()
from chatapp.push import PushSender, PushTarget
from tests.support.push_service import Answer, LocalPushService

with LocalPushService() as service:
    sender = PushSender.from_config({"PUSH_ALLOW_INSECURE": True, "PUSH_TIMEOUT": 1.0,
                                     "VAPID_SUBJECT": "mailto:ops@chat.example.org"}, tempfile.mkdtemp())
    stalled = service.new_subscription()
    service.script(stalled["endpoint"], Answer(201, delay=3.0))
    subscriptions = [stalled] + [service.new_subscription() for _ in range(3)] * 3
    started, results = time.monotonic(), []

    def push(subscription):
        keys = subscription["keys"]
        target = PushTarget("webpush", endpoint=subscription["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])
        kind = sender.send(target, {"seq": 1}, topic="c1").kind
        results.append([subscription is stalled, kind, time.monotonic() - started])

    for green in [spawn(push, subscription) for subscription in subscriptions]:
        join(green)
    sender.close()
    print(json.dumps({"results": results, "errors": service.errors, "received": len(service.received())}))
"""


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_a_stalled_service_holds_up_only_its_own_push(mode) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", PROBE, mode], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    others = [(kind, seconds) for stalled, kind, seconds in report["results"] if not stalled]
    (stalled,) = [(kind, seconds) for stalled, kind, seconds in report["results"] if stalled]
    assert [kind for kind, _ in others] == ["sent"] * 9
    assert max(seconds for _, seconds in others) < 0.8  # none waited for the stalled one
    assert stalled[0] == "retry" and 0.9 <= stalled[1] < 1.6
    assert report["received"] == 10 and report["errors"] == []
