"""Kafka: the local broker, topics, codec and client configuration."""
