"""Push transport: "send this JSON to this device" as a correct HTTP request and a
classified outcome (Web Push per RFC 8030/8291/8292, FCM HTTP v1).

No Flask request, no database, no emit in here: the outbox worker
(services.push_outbox) decides who is pushed and what to do with each
``Outcome``; this package only speaks to push services.
"""

from .endpoints import validate_webpush_endpoint
from .sender import PushSender
from .targets import Outcome, PushTarget

__all__ = ["Outcome", "PushSender", "PushTarget", "validate_webpush_endpoint"]
