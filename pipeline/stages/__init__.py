"""Consumer stages: normalize, symbolicate, store."""
