"""The stage runtime: consumer loop, in-flight windows, pause control, commits."""
