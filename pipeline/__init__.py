"""pipeline: Kafka stream-processing stages (normalize, symbolicate, store) for error events."""

__version__ = "0.1.0"
