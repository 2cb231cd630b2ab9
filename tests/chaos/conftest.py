"""Fault tests report figures (seconds, counts); they are printed at the end of
the run and written to test-results/chaos.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIGURES: dict[str, dict] = {}
RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "chaos.json"


@pytest.fixture
def report(request):
    def record(**figures) -> None:
        FIGURES.setdefault(request.node.name, {}).update(figures)

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault-test figures")
    for test, figures in FIGURES.items():
        shown = ", ".join(f"{k}={v}" for k, v in figures.items())
        terminalreporter.write_line(f"{test}: {shown}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(FIGURES, indent=2))
