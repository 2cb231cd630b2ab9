"""Hypothesis fuzzing of every socket event and REST endpoint (issue 5)."""
