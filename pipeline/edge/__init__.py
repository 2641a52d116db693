"""The edge: Sentry-compatible HTTP ingestion in front of events.raw (issue 9)."""
