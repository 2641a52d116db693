"""The artifact store: minified JavaScript and source maps uploaded per project and release."""

from pipeline.adapters.artifacts.jsfiles import (
    ArtifactInfo,
    ArtifactKind,
    InvalidArtifact,
    inspect_artifact,
    normalize_debug_id,
    parse_source_map,
    source_comments,
)
from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.adapters.artifacts.urls import url_candidates

__all__ = [
    "ArtifactInfo",
    "ArtifactKind",
    "ArtifactStore",
    "InvalidArtifact",
    "StoredArtifact",
    "inspect_artifact",
    "normalize_debug_id",
    "parse_source_map",
    "source_comments",
    "url_candidates",
]
