"""Files fetched over HTTP, kept on disk so that restarts and other workers do not refetch them.

``symbolic`` 13's Python API cannot serialize a built ``SourceMapCache``, so this caches what
it is built from: bodies by content hash (``blobs/``) and, per project, release and URL, an
index entry naming the body, the URL that answered and the source map it referenced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.adapters.artifacts.atomic import write_atomic


@dataclass(frozen=True)
class CachedFile:
    url: str
    """The URL that answered (after redirects)."""
    sha256: str
    sourcemap_url: str | None
    fetched_at: float


class FetchCache:
    """Thread- and process-safe: every file is written whole and renamed into place."""

    def __init__(self, root: Path, *, ttl_s: float, clock: Callable[[], float]) -> None:
        self._root = root
        self._ttl_s = ttl_s
        self._clock = clock

    def get(self, project_id: int, release: str | None, url: str) -> CachedFile | None:
        """The fresh entry for the URL whose body is still on disk, or None."""
        try:
            entry = CachedFile(
                **json.loads(self._index_path(project_id, release, url).read_bytes())
            )
        except FileNotFoundError:
            return None
        if self._clock() - entry.fetched_at >= self._ttl_s:
            return None
        return entry if self._blob_path(entry.sha256).exists() else None

    def put(
        self,
        project_id: int,
        release: str | None,
        url: str,
        *,
        final_url: str,
        body: bytes,
        sourcemap_url: str | None,
    ) -> CachedFile:
        sha256 = hashlib.sha256(body).hexdigest()
        blob = self._blob_path(sha256)
        if not blob.exists():
            write_atomic(blob, body)
        entry = CachedFile(final_url, sha256, sourcemap_url, self._clock())
        record = json.dumps(asdict(entry)).encode()
        write_atomic(self._index_path(project_id, release, url), record)
        return entry

    def read(self, entry: CachedFile) -> bytes:
        return self._blob_path(entry.sha256).read_bytes()

    def _blob_path(self, sha256: str) -> Path:
        return self._root / "blobs" / sha256[:2] / sha256

    def _index_path(self, project_id: int, release: str | None, url: str) -> Path:
        key = hashlib.sha256(json.dumps([project_id, release, url]).encode()).hexdigest()
        return self._root / "index" / key[:2] / f"{key}.json"
