"""Databases the store stage writes to: SQLite and PostgreSQL."""
