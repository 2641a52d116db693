"""Settings of the symbolicate stage (``symbolicate:`` in the settings file)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.adapters.http.addresses import CLOUD_METADATA_ADDRESSES
from pipeline.adapters.http.origins import OriginAllowList


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectFetchPolicy(_Section):
    """Lets one project's frames be resolved by fetching their files over HTTP."""

    allowed_origins: tuple[str, ...] = Field(
        min_length=1,
        description="scheme://host[:port] entries; '*.' before a host allows its subdomains, "
        "'*' allows every origin.",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Allow loopback, private and other non-public addresses (never cloud "
        "metadata endpoints). For development servers only.",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _parseable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        OriginAllowList.parse(value)
        return value


class FetchSettings(_Section):
    connect_timeout_s: float = Field(default=2.0, gt=0)
    read_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest silence while waiting for response bytes."
    )
    total_timeout_s: float = Field(
        default=10.0, gt=0, description="Budget of one fetch, redirects included."
    )
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest body accepted.")
    max_redirects: int = Field(default=3, ge=0)
    host_failure_limit: int = Field(
        default=5,
        ge=1,
        description="Failures within host_failure_window_s that open a host's circuit.",
    )
    host_failure_window_s: float = Field(default=60.0, gt=0)
    host_cooldown_s: float = Field(
        default=120.0, gt=0, description="How long a host with an open circuit is skipped."
    )
    cache_ttl_s: float = Field(
        default=3600.0, gt=0, description="How long a fetched file is reused without refetching."
    )
    metadata_addresses: tuple[IPv4Address | IPv6Address, ...] = Field(
        default=tuple(sorted(CLOUD_METADATA_ADDRESSES, key=str)),
        description="Never fetched from, whatever allow_private_networks says.",
    )
    user_agent: str = "pipeline-symbolicate/0.1"
    projects: dict[int, ProjectFetchPolicy] = Field(
        default_factory=dict,
        description="Project id to its fetch policy; projects not listed never fetch.",
    )


class SymbolicateSettings(_Section):
    platforms: tuple[str, ...] = Field(
        default=("javascript", "node"), description="Event platforms whose frames are mapped."
    )
    artifacts_dir: Path = Field(
        default=Path(".pipeline/artifacts"),
        description="Artifact store written by 'pipeline artifacts upload'.",
    )
    cache_dir: Path = Field(
        default=Path(".pipeline/cache/symbolicate"), description="On-disk cache of fetched files."
    )
    memory_cache_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Source maps held parsed in memory, counted by their source + map size.",
    )
    negative_cache_ttl_s: float = Field(
        default=300.0, ge=0, description="How long a failed lookup is remembered and not retried."
    )
    negative_cache_entries: int = Field(default=10_000, ge=0)
    located_cache_ttl_s: float = Field(
        default=60.0,
        ge=0,
        description="How long a frame's file is remembered as found, so the artifact index is not "
        "read again for every event; a re-upload for the same release takes effect after this.",
    )
    located_cache_entries: int = Field(default=10_000, ge=0)
    context_lines: int = Field(
        default=5, ge=0, le=50, description="Source lines kept before and after a frame's line."
    )
    skip_library_frames: frozenset[int] = Field(
        default=frozenset(),
        description="Projects whose frames marked in_app false (libraries, node_modules) are "
        "not looked up: they keep their location and record no error.",
    )
    fetch: FetchSettings = FetchSettings()
