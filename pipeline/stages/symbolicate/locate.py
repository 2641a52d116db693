"""Finds the minified file and the source map behind a frame's URL.

Order: the debug id (when the event's debug images name one for the file), then the artifact
store by release, dist and URL, then (for projects that allow it) HTTP, through the fetch cache.
The map is found the same way once the minified file names it (header, comment, ``data:`` URL;
an uploaded file without a reference falls back to ``<url>.map`` in the store).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from pipeline.adapters.artifacts.jsfiles import ArtifactKind
from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.artifacts.urls import join_url
from pipeline.adapters.http.fetcher import Fetcher, FetchError, FetchPolicy
from pipeline.stages.symbolicate.fetch_cache import FetchCache
from pipeline.stages.symbolicate.references import (
    decode_data_url,
    is_data_url,
    sourcemap_reference,
)

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class FrameFile:
    """What a frame's minified location is looked up by; also the key of the lookup caches."""

    project_id: int
    release: str | None
    dist: str | None
    abs_path: str
    debug_id: str | None


@dataclass(frozen=True)
class Failure:
    kind: str
    """Goes on the frame as ``symbolication`` (``missing_sourcemap``, ``fetch_failed:timeout``)."""
    detail: str


class Unresolvable(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.failure = Failure(kind, detail)


@dataclass(frozen=True)
class Blob:
    """File contents known by hash, read only when the parsed cache does not have them."""

    sha256: str
    read: Callable[[], bytes]


@dataclass(frozen=True)
class SourcePair:
    source: Blob
    sourcemap: Blob
    map_url: str
    """Where the map lives; the original sources' URLs are relative to it."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.source.sha256}:{self.sourcemap.sha256}".encode()).hexdigest()


@dataclass(frozen=True)
class _Loaded:
    blob: Blob
    url: str
    sourcemap_url: str | None
    from_store: bool


class Locator:
    """Thread-safe: holds no mutable state of its own."""

    def __init__(
        self,
        store: ArtifactStore,
        cache: FetchCache,
        fetcher: Fetcher | None,
        policies: Mapping[int, FetchPolicy],
    ) -> None:
        self._store = store
        self._cache = cache
        self._fetcher = fetcher
        self._policies = policies

    def locate(self, target: FrameFile) -> SourcePair:
        """Raises Unresolvable with the reason the frame keeps its minified location."""
        if target.debug_id is not None:
            pair = self._by_debug_id(target, target.debug_id)
            if pair is not None:
                return pair
        source = self._load(target, target.abs_path, "minified_source")
        if source is None:
            raise Unresolvable("missing_sourcemap", self._not_found(target, target.abs_path))
        reference = source.sourcemap_url or (f"{source.url}.map" if source.from_store else None)
        if reference is None:
            raise Unresolvable("missing_sourcemap", f"{source.url} names no source map")
        if is_data_url(reference):
            return SourcePair(source.blob, _inline_map(reference), source.url)
        map_url = join_url(source.url, reference)
        sourcemap = self._load(target, map_url, "source_map")
        if sourcemap is None:
            raise Unresolvable("missing_sourcemap", self._not_found(target, map_url))
        return SourcePair(source.blob, sourcemap.blob, sourcemap.url)

    def _by_debug_id(self, target: FrameFile, debug_id: str) -> SourcePair | None:
        store = self._store
        sourcemap = store.find_by_debug_id(target.project_id, debug_id, "source_map")
        if sourcemap is None:
            return None
        source = store.find_by_debug_id(target.project_id, debug_id, "minified_source")
        # Without the minified file the map still gives lines; only function names need it.
        source_blob = (
            Blob(_EMPTY_SHA256, lambda: b"")
            if source is None
            else Blob(source.sha256, partial(store.read, source))
        )
        reference = source.sourcemap_url if source is not None else None
        map_url = join_url(target.abs_path, reference) if reference else target.abs_path
        return SourcePair(
            source_blob, Blob(sourcemap.sha256, partial(store.read, sourcemap)), map_url
        )

    def _load(self, target: FrameFile, url: str, kind: ArtifactKind) -> _Loaded | None:
        if target.release is not None:
            found = self._store.find_by_url(target.project_id, target.release, target.dist, url)
            if found is not None:
                blob = Blob(found.sha256, partial(self._store.read, found))
                return _Loaded(blob, url, found.sourcemap_url, from_store=True)
        policy = self._policies.get(target.project_id)
        if (
            policy is None
            or self._fetcher is None
            or not url.lower().startswith(("http:", "https:"))
        ):
            return None
        cached = self._cache.get(target.project_id, target.release, url)
        if cached is not None:
            blob = Blob(cached.sha256, partial(self._cache.read, cached))
            return _Loaded(blob, cached.url, cached.sourcemap_url, from_store=False)
        return self._fetch(target, url, kind, policy)

    def _fetch(
        self, target: FrameFile, url: str, kind: ArtifactKind, policy: FetchPolicy
    ) -> _Loaded:
        assert self._fetcher is not None
        try:
            response = self._fetcher.fetch(url, policy)
        except FetchError as exc:
            raise Unresolvable(f"fetch_failed:{exc.kind}", exc.detail) from None
        body = response.body
        reference = (
            sourcemap_reference(response.headers, body) if kind == "minified_source" else None
        )
        entry = self._cache.put(
            target.project_id,
            target.release,
            url,
            final_url=response.url,
            body=body,
            sourcemap_url=reference,
        )
        return _Loaded(Blob(entry.sha256, lambda: body), response.url, reference, from_store=False)

    def _not_found(self, target: FrameFile, url: str) -> str:
        where = f"release {target.release!r}" if target.release is not None else "no release"
        fetching = "" if target.project_id in self._policies else ", and the project does not fetch"
        return f"{url} not found ({where}{fetching})"


def _inline_map(reference: str) -> Blob:
    try:
        data = decode_data_url(reference)
    except ValueError as exc:
        raise Unresolvable("invalid_sourcemap", f"inline source map: {exc}") from None
    return Blob(hashlib.sha256(data).hexdigest(), lambda: data)
