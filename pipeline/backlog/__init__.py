"""Backlog slicing (live side), the ledger of sliced ranges, and the backlog-drain controller."""
