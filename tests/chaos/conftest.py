"""Fault tests report figures (seconds, counts); they are printed at the end of
the run and written to test-results/chaos.json (tests/support/figures.py)."""

from __future__ import annotations

import pytest

from tests.support import figures


@pytest.fixture
def report(request):
    def record(**values) -> None:
        figures.record(request, **values)

    return record
