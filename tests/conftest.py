"""Fixture plugins: a real Kafka broker and a real PostgreSQL, started by the test session."""

pytest_plugins = ["tests.support.kafka", "tests.support.postgres"]
