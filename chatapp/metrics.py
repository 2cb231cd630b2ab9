"""Prometheus metrics, per worker process (scrape each worker, or via the LB per request)."""

from prometheus_client import Counter, Gauge, Histogram

CONNECTED_SOCKETS = Gauge("chat_connected_sockets", "Sockets connected to this worker")
EVENTS_IN = Counter("chat_events_in_total", "Socket events received", ["event"])
EVENTS_OUT = Counter("chat_events_out_total", "Events published", ["event"])
SEND_LATENCY = Histogram(
    "chat_send_seconds",
    "Time to validate, persist and publish one message",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PUBLISH_FAILURES = Counter("chat_publish_failures_total", "Events that could not be handed to the message queue")
REFUSED_CONNECTIONS = Counter("chat_refused_connections_total", "Socket connections refused", ["code"])
SEND_GROUP_SIZE = Histogram(
    "chat_send_group_size", "Sends committed together by one group commit (groups of two or more)",
    buckets=(2, 4, 8, 16, 32, 64),
)
SEND_GROUP_RETRIED = Counter(
    "chat_send_group_retried_total", "Send groups rolled back by a database error, each send then run alone"
)
SHED = Counter("chat_shed_total", "Requests refused because of load or limits", ["reason"])
