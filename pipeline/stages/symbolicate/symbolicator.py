"""The symbolicate stage's logic: processed_event in, processed_event out, no Kafka.

Thread-safe, and built so that a slow fetch costs only the call waiting for it: locks guard
only in-memory bookkeeping, never I/O; calls for the same file share one lookup (single flight),
calls for other files do not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import structlog
from symbolic.exceptions import SymbolicError
from symbolic.sourcemapcache import SourceMapCache, SourceMapCacheToken

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.http.fetcher import Fetcher, FetchLimits, FetchPolicy, SafeFetcher
from pipeline.adapters.http.origins import OriginAllowList
from pipeline.stages.passthrough import has_minified_frames, wants_mapping
from pipeline.stages.symbolicate.fetch_cache import FetchCache
from pipeline.stages.symbolicate.frames import (
    debug_ids_by_file,
    error_entry,
    mapped_frame,
    source_function,
    unmapped_frame,
)
from pipeline.stages.symbolicate.locate import (
    Failure,
    FrameFile,
    Locator,
    SourcePair,
    Unresolvable,
)
from pipeline.stages.symbolicate.memory import ExpiringCache, SingleFlight, WeightedLRU
from pipeline.stages.symbolicate.settings import FetchSettings, SymbolicateSettings
from pipeline.stages.symbolicate.source_scopes import OriginalSources

log = structlog.get_logger()


TOKENS_PER_MAP = 1024
"""Lookups remembered per parsed map: the same frames recur in event after event, and each
lookup crosses into symbolic several times, releasing and re-taking the GIL each time."""


@dataclass(frozen=True)
class _Parsed:
    cache: SourceMapCache
    sources: OriginalSources
    lookup: Callable[[int, int, int], SourceMapCacheToken | None]
    """``cache.lookup`` with the last TOKENS_PER_MAP results remembered."""

    @classmethod
    def of(cls, cache: SourceMapCache, sources: OriginalSources) -> _Parsed:
        return cls(cache, sources, lru_cache(maxsize=TOKENS_PER_MAP)(cache.lookup))


@dataclass(frozen=True)
class _Resolved:
    parsed: _Parsed
    map_url: str


@dataclass(frozen=True)
class SymbolicatorStats:
    parsed_maps: int
    parsed_bytes: int
    """Source + map bytes of the parsed maps held in memory."""
    waiting_calls: int
    """Calls waiting for a lookup of the same file that another call is running."""


@dataclass(frozen=True, slots=True)
class _Located:
    """Where a frame's file was found: by digest only, so the cache holds no file contents."""

    digest: str
    map_url: str


_Resolution = _Resolved | Failure
_MAX_POSITION = 2**32 - 1  # symbolic takes 1-based uint32 positions


class Symbolicator:
    """Maps JavaScript frames of processed events to their original locations."""

    def __init__(
        self,
        settings: SymbolicateSettings,
        *,
        fetcher: Fetcher | None = None,
        store: ArtifactStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` (wall time: disk entries outlive the process) drives the cache TTLs; a
        default fetcher is built from the settings when some project may fetch."""
        self._settings = settings
        self._own_fetcher: SafeFetcher | None = None
        if fetcher is None and settings.fetch.projects:
            fetcher = self._own_fetcher = SafeFetcher(
                fetch_limits(settings.fetch), metadata_addresses=settings.fetch.metadata_addresses
            )
        self._locator = Locator(
            store if store is not None else ArtifactStore(settings.artifacts_dir),
            FetchCache(settings.cache_dir, ttl_s=settings.fetch.cache_ttl_s, clock=clock),
            fetcher,
            fetch_policies(settings.fetch),
        )
        self._parsed: WeightedLRU[str, _Parsed] = WeightedLRU(settings.memory_cache_bytes)
        self._failures: ExpiringCache[FrameFile, Failure] = ExpiringCache(
            ttl_s=settings.negative_cache_ttl_s,
            max_entries=settings.negative_cache_entries,
            clock=clock,
        )
        self._located: ExpiringCache[FrameFile, _Located] = ExpiringCache(
            ttl_s=settings.located_cache_ttl_s,
            max_entries=settings.located_cache_entries,
            clock=clock,
        )
        self._flights: SingleFlight[FrameFile, _Resolution] = SingleFlight()

    def close(self) -> None:
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    def stats(self) -> SymbolicatorStats:
        """For gauges: how full the memory cache is and how many calls share a lookup."""
        return SymbolicatorStats(len(self._parsed), self._parsed.weight, self._flights.waiting())

    def symbolicate(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its minified frames mapped; the input is not modified."""
        if event.get("platform") not in self._settings.platforms:
            return event
        if not has_minified_frames(event):
            return event
        exceptions = event.get("exceptions") or []
        debug_ids = debug_ids_by_file(event)
        resolutions: dict[str, _Resolution] = {}
        errors = list(event.get("errors") or [])
        skip_library = event["project_id"] in self._settings.skip_library_frames

        def map_frame(frame: dict[str, Any]) -> dict[str, Any]:
            if not wants_mapping(frame) or (skip_library and frame.get("in_app") is False):
                return frame
            abs_path = frame["abs_path"]
            if abs_path not in resolutions:
                target = FrameFile(
                    project_id=event["project_id"],
                    release=event.get("release"),
                    dist=event.get("dist"),
                    abs_path=abs_path,
                    debug_id=debug_ids.get(abs_path),
                )
                resolutions[abs_path] = self._resolve(target)
            new_frame, failure = self._map(frame, resolutions[abs_path])
            if failure is not None:
                entry = error_entry(failure.kind, failure.detail)
                if entry not in errors:
                    errors.append(entry)
            return new_frame

        mapped = [
            {**exc, "frames": [map_frame(f) for f in exc.get("frames") or []]} for exc in exceptions
        ]
        return {**event, "exceptions": mapped, "errors": errors}

    def _map(
        self, frame: dict[str, Any], resolution: _Resolution
    ) -> tuple[dict[str, Any], Failure | None]:
        if isinstance(resolution, Failure):
            return unmapped_frame(frame, resolution.kind), resolution
        lineno, colno = frame["lineno"], frame["colno"]
        in_range = 1 <= lineno <= _MAX_POSITION and 1 <= colno <= _MAX_POSITION
        parsed = resolution.parsed
        token = parsed.lookup(lineno, colno, self._settings.context_lines) if in_range else None
        if token is None:
            where = f"{frame['abs_path']}:{frame['lineno']}:{frame['colno']}"
            failure = Failure("no_token", f"{where} has no mapping in {resolution.map_url}")
            return unmapped_frame(frame, failure.kind), failure
        function, minifiers = source_function(frame, token, parsed.sources)
        mapped = mapped_frame(frame, token, resolution.map_url, function)
        if not minifiers:
            return mapped, None
        where = f"{mapped['abs_path']}:{token.line}:{token.col}"
        return mapped, Failure(
            "minified_function_name", f"{where}: no source name, {function!r} is the minifier's"
        )

    def _resolve(self, target: FrameFile) -> _Resolution:
        failure = self._failures.get(target)
        if failure is not None:
            return failure
        located = self._located.get(target)
        if located is not None:
            parsed = self._parsed.get(located.digest)
            if parsed is not None:  # else evicted: locate again, which may read the files
                return _Resolved(parsed, located.map_url)
        return self._flights.run(target, lambda: self._resolve_now(target))

    def _resolve_now(self, target: FrameFile) -> _Resolution:
        try:
            pair = self._locator.locate(target)
            digest = pair.digest
            resolved = _Resolved(self._parse(pair, digest), pair.map_url)
            self._located.put(target, _Located(digest, pair.map_url))
            return resolved
        except Unresolvable as exc:
            failure = exc.failure
        log.info(
            "symbolicate.unresolved",
            project_id=target.project_id,
            release=target.release,
            abs_path=target.abs_path,
            kind=failure.kind,
            detail=failure.detail,
        )
        self._failures.put(target, failure)
        return failure

    def _parse(self, pair: SourcePair, digest: str) -> _Parsed:
        cached = self._parsed.get(digest)
        if cached is not None:
            return cached
        source, sourcemap = pair.source.read(), pair.sourcemap.read()
        try:
            parsed = _Parsed.of(
                SourceMapCache.from_bytes(source, sourcemap), OriginalSources(sourcemap)
            )
        except SymbolicError as exc:
            raise Unresolvable("invalid_sourcemap", f"{pair.map_url}: {exc}") from None
        self._parsed.put(digest, parsed, len(source) + len(sourcemap))
        return parsed


def fetch_limits(settings: FetchSettings) -> FetchLimits:
    return FetchLimits(
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        total_timeout_s=settings.total_timeout_s,
        max_bytes=settings.max_bytes,
        max_redirects=settings.max_redirects,
        host_failure_limit=settings.host_failure_limit,
        host_failure_window_s=settings.host_failure_window_s,
        host_cooldown_s=settings.host_cooldown_s,
        user_agent=settings.user_agent,
    )


def fetch_policies(settings: FetchSettings) -> dict[int, FetchPolicy]:
    return {
        project_id: FetchPolicy(
            OriginAllowList.parse(policy.allowed_origins), policy.allow_private_networks
        )
        for project_id, policy in settings.projects.items()
    }
