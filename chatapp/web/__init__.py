"""Operational endpoints (/healthz, /metrics) and the web client at /."""
