"""Reading this process's Prometheus counters in tests."""

from __future__ import annotations

from prometheus_client import REGISTRY


def shed_total(reason: str) -> float:
    """``chat_shed_total{reason}``: requests refused with ``unavailable`` because of load."""
    return REGISTRY.get_sample_value("chat_shed_total", {"reason": reason}) or 0.0
