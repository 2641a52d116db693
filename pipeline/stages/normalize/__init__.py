"""The normalize stage: raw SDK JSON in, typed, trimmed, scrubbed and grouped events out."""

from pipeline.stages.normalize.event import normalize_event
from pipeline.stages.normalize.grouping import grouping_hash_of
from pipeline.stages.normalize.results import Filtered, Invalid, Normalized, Result
from pipeline.stages.normalize.settings import DropRule, NormalizeSettings

__all__ = [
    "DropRule",
    "Filtered",
    "Invalid",
    "NormalizeSettings",
    "Normalized",
    "Result",
    "grouping_hash_of",
    "normalize_event",
]
