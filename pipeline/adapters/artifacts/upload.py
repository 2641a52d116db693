"""Uploading files from disk: name each one by URL, check them all, then store them all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.adapters.artifacts.jsfiles import InvalidArtifact, inspect_artifact
from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.errors import UserError

UPLOADED_SUFFIXES = (".js", ".mjs", ".cjs", ".map")


def files_to_upload(paths: Sequence[Path], url_prefix: str) -> list[tuple[str, Path]]:
    """(URL, file) pairs: a file is named by its base name, a directory contributes its
    JavaScript files and maps named by their path inside it (like ``sentry-cli``)."""
    prefix = url_prefix.rstrip("/") + "/"
    pairs: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(UPLOADED_SUFFIXES)
            )
            if not found:
                raise UserError(f"{path} holds no {', '.join(UPLOADED_SUFFIXES)} files to upload")
            pairs += [(prefix + p.relative_to(path).as_posix(), p) for p in found]
        elif path.is_file():
            pairs.append((prefix + path.name, path))
        else:
            raise UserError(f"{path} does not exist")
    return pairs


def upload_files(
    store: ArtifactStore,
    *,
    project_id: int,
    release: str,
    dist: str | None,
    files: Sequence[tuple[str, Path]],
) -> list[StoredArtifact]:
    """Stores nothing unless every file is valid; raises UserError naming the first bad one."""
    contents: list[tuple[str, bytes]] = []
    for url, path in files:
        try:
            data = path.read_bytes()
            inspect_artifact(url, data)
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
        except InvalidArtifact as exc:
            kind = "a source map" if url.endswith(".map") else "a JavaScript file"
            raise UserError(f"{path} is not {kind}: {exc}") from None
        contents.append((url, data))
    return [
        store.upload(project_id=project_id, release=release, dist=dist, url=url, data=data)
        for url, data in contents
    ]
