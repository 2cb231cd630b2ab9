"""Helpers shared by the test suite: real services, real server processes."""
