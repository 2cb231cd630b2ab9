"""What every smoke test of the benchmark needs: Node and the generator's modules."""

from __future__ import annotations

import subprocess

import pytest

from bench import run
from tests.support.services import require_binary


@pytest.fixture(scope="session")
def loadgen_ready() -> None:
    """Node, and bench/loadgen's node_modules (``npm ci`` from its lockfile when missing)."""
    require_binary("node")
    if not (run.LOADGEN.parent / "node_modules" / "ws").exists():
        npm = require_binary("npm")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=run.LOADGEN.parent,
                       check=True, timeout=120)  # fmt: skip
