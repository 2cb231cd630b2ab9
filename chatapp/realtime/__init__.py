"""The Socket.IO side: the /chat namespace, connect-time auth, and the one publish() helper."""

NAMESPACE = "/chat"
