"""Adapters to the outside: Kafka, databases, HTTP."""
