"""The paired A/B harness (bench/ab.py) as an instrument: both variants run at
once and deliver everything, B can be another revision run from a worktree
that is removed afterwards, and a revision with other migrations is refused.
No timing assertions: the figures live in the harness's reports."""

from __future__ import annotations

import subprocess

import pytest

from bench import ab
from chatapp.ops.processes import ROOT

pytestmark = pytest.mark.timeout(240)



def test_both_variants_run_at_once_and_deliver_every_message(loadgen_ready: None, tmp_path) -> None:
    report = ab.main(["--b", "CHAT_SEND_GROUP_MAX=1", "--pairs", "5", "--rate", "10", "--seconds", "2",
                      "--rounds", "2", "--out", str(tmp_path / "ab.json")])
    (sitting,) = report["sittings"]
    assert report["b"]["env"] == {"CHAT_SEND_GROUP_MAX": "1"}
    assert sitting["A_delivered_pct"] == [100, 100] and sitting["B_delivered_pct"] == [100, 100]
    assert all(us > 0 for us in sitting["A_us_per_msg"] + sitting["B_us_per_msg"])
    assert len(sitting["ratio_B_over_A"]) == 2 and sitting["median_ratio"] > 0
    assert (tmp_path / "ab.json").exists()


def test_a_revision_runs_from_a_worktree_that_is_removed_afterwards() -> None:
    with ab.revision_tree("HEAD") as tree:
        assert tree != ROOT and (tree / "wsgi.py").exists() and (tree / "chatapp").is_dir()
    assert not tree.exists()
    listed = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert str(tree) not in listed.stdout


def test_a_revision_with_other_migrations_is_refused() -> None:
    last = subprocess.run(["git", "log", "-1", "--format=%H", "--", "migrations/versions"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    before = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{last}~1"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    if not last or not before:
        pytest.skip("this clone has no history of migrations/ (shallow)")
    with pytest.raises(SystemExit, match="other migrations"), ab.revision_tree(before):
        pass


def test_an_environment_argument_must_be_name_equals_value() -> None:
    assert ab.parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(SystemExit):
        ab.parse_env(["nonsense"])
