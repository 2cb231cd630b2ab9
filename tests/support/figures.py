"""Figures that tests report (seconds, counts): printed at the end of the run and
written to test-results/chaos.json (docs/reliability.md quotes them).

A test records its figures on its own report (``user_properties``), not in a
module-level dict: under pytest-xdist the test runs in a worker process and
only its reports reach the controller, which prints and writes them here.
Registered by tests/conftest.py, so the controller loads it whatever the paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PROPERTY = "figures"
RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "chaos.json"
FIGURES: dict[str, dict[str, Any]] = {}


def record(request: pytest.FixtureRequest, **figures: Any) -> None:
    request.node.user_properties.append((PROPERTY, figures))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The teardown report carries every property the test recorded.
    if report.when != "teardown":
        return
    for name, figures in report.user_properties:
        if name == PROPERTY:
            FIGURES.setdefault(report.nodeid.rsplit("::", 1)[-1], {}).update(figures)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not FIGURES or hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    terminalreporter.section("fault-test figures")
    for test, figures in FIGURES.items():
        shown = ", ".join(f"{k}={v}" for k, v in figures.items())
        terminalreporter.write_line(f"{test}: {shown}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(FIGURES, indent=2))
