"""Benchmarks run by hand (`python -m benchmarks.runtime`), never by the test suite."""
