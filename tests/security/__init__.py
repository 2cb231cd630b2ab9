"""Hostile input and security tests (issue 5)."""
