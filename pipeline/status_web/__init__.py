"""The status web page: cohort waterfall, per-stage rates, lag, pauses and backlog ranges."""
