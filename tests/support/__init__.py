"""Fixtures shared by the test suite: a real broker, a real PostgreSQL."""
