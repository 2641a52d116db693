"""The demo shop's bundle and source map, uploaded where the generated JS events point."""

from __future__ import annotations

from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.demo import upload_demo_artifacts
from pipeline.generator import DEMO_RELEASES


def upload_demo(store: ArtifactStore, projects: int) -> list[StoredArtifact]:
    """For projects 1..``projects`` and every release the generator's JS and Node events name
    (idempotent: uploading again rewrites the same records)."""
    return [
        artifact
        for project_id in range(1, projects + 1)
        for target in DEMO_RELEASES
        for artifact in upload_demo_artifacts(
            store, project_id=project_id, release=target.release, dist=target.dist
        )
    ]
