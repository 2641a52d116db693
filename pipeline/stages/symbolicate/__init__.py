"""The symbolicate stage: minified JavaScript frames mapped to their original source.

Entry point: ``pipeline.stages.symbolicate.symbolicator.Symbolicator`` (not re-exported here,
so that loading the settings does not load ``symbolic``).
"""
