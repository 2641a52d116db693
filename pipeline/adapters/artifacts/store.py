"""Uploaded minified files and source maps, on disk, found by release and URL or by debug id.

Layout under the root (every write is a temp file renamed into place, so readers never see a
half-written file and concurrent uploads of the same name leave one complete record)::

    blobs/<sha256[:2]>/<sha256>                              file contents, shared
    projects/<id>/releases/<key(release, dist)>/<key(url)>.json
    projects/<id>/debug-ids/<debug id>/<kind>.json           records pointing at blobs
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from pipeline.adapters.artifacts.atomic import write_atomic
from pipeline.adapters.artifacts.jsfiles import ArtifactKind, inspect_artifact, normalize_debug_id
from pipeline.adapters.artifacts.urls import url_candidates

log = structlog.get_logger()


@dataclass(frozen=True)
class StoredArtifact:
    project_id: int
    release: str
    dist: str | None
    url: str
    kind: ArtifactKind
    sha256: str
    size: int
    debug_id: str | None
    sourcemap_url: str | None


class ArtifactStore:
    """Safe to share between threads and processes: records are immutable files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def upload(
        self, *, project_id: int, release: str, dist: str | None, url: str, data: bytes
    ) -> StoredArtifact:
        """Stores ``data`` as ``url``; raises InvalidArtifact when it is not what its name says."""
        info = inspect_artifact(url, data)
        sha256 = hashlib.sha256(data).hexdigest()
        blob = self._blob_path(sha256)
        if not blob.exists():
            write_atomic(blob, data)
        artifact = StoredArtifact(
            project_id=project_id,
            release=release,
            dist=dist,
            url=url,
            kind=info.kind,
            sha256=sha256,
            size=len(data),
            debug_id=info.debug_id,
            sourcemap_url=info.sourcemap_url,
        )
        record = json.dumps(asdict(artifact), sort_keys=True).encode()
        write_atomic(self._release_dir(project_id, release, dist) / f"{_key(url)}.json", record)
        if artifact.debug_id is not None:
            write_atomic(self._debug_id_path(project_id, artifact.debug_id, info.kind), record)
        log.debug(
            "artifacts.stored", project_id=project_id, release=release, url=url, sha256=sha256
        )
        return artifact

    def find_by_url(
        self, project_id: int, release: str, dist: str | None, url: str
    ) -> StoredArtifact | None:
        directory = self._release_dir(project_id, release, dist)
        for candidate in url_candidates(url):
            artifact = _read_record(directory / f"{_key(candidate)}.json")
            if artifact is not None:
                return artifact
        return None

    def find_by_debug_id(
        self, project_id: int, debug_id: str, kind: ArtifactKind
    ) -> StoredArtifact | None:
        normalized = normalize_debug_id(debug_id)
        if normalized is None:
            return None
        return _read_record(self._debug_id_path(project_id, normalized, kind))

    def list_release(self, project_id: int, release: str, dist: str | None) -> list[StoredArtifact]:
        directory = self._release_dir(project_id, release, dist)
        records = (_read_record(p) for p in sorted(directory.glob("*.json")))
        return sorted((r for r in records if r is not None), key=lambda a: a.url)

    def read(self, artifact: StoredArtifact) -> bytes:
        return self._blob_path(artifact.sha256).read_bytes()

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def _release_dir(self, project_id: int, release: str, dist: str | None) -> Path:
        # Hashed: release and dist names may hold any character, including "/".
        name = _key(json.dumps([release, dist]))
        return self.root / "projects" / str(project_id) / "releases" / name

    def _debug_id_path(self, project_id: int, debug_id: str, kind: ArtifactKind) -> Path:
        return self.root / "projects" / str(project_id) / "debug-ids" / debug_id / f"{kind}.json"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _read_record(path: Path) -> StoredArtifact | None:
    try:
        return StoredArtifact(**json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
