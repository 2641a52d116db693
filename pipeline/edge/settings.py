"""The ``edge`` settings section (the HTTP ingest server of issue 9)."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.edge.quotas.settings import QuotaSettings

DEV_PROJECT_ID = 1
DEV_PUBLIC_KEY = "d3v0000000000000000000000000000d"
"""The key `pipeline dev` accepts for project 1, so a DSN can be written down once."""


class DroppedSdk(BaseModel):
    """SDK releases answered 200 and discarded (a known-broken release flooding the edge)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="sdk.name as the SDK sends it, e.g. sentry.python.")
    versions: str = Field(
        default="", description="A packaging version specifier, e.g. '<1.5,>=1.2'; empty: all."
    )

    @field_validator("versions")
    @classmethod
    def _specifier(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"{value!r} is not a version specifier such as '<1.5'") from None
        return value


class EdgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the edge listens on.")
    port: int = Field(default=3000, ge=0, le=65535)
    projects: dict[int, list[str]] = Field(
        default_factory=dict,
        description="Project id to the public keys (the DSN's user part) it accepts.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest request body on the wire (413 above)."
    )
    max_decompressed_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="Largest body after gzip/deflate/br."
    )
    max_event_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest event item.")
    max_event_age_s: float = Field(
        default=30 * 86400, gt=0, description="Older events are dropped (filtered: too_old)."
    )
    accept_and_drop: tuple[DroppedSdk, ...] = ()
    max_in_flight: int = Field(
        default=1000, ge=1, description="Requests handled at once; more get 503 + Retry-After."
    )
    ack_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest a request waits for the broker's ack (then 503)."
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest a client may take to send its body (408)."
    )
    fast_mode: bool = Field(
        default=False,
        description="Answer once the event is queued in the producer's bounded buffer instead "
        "of after the broker's ack: lower latency, events in the buffer are lost on a crash.",
    )
    max_lag: int | None = Field(
        default=None,
        ge=1,
        description="Above this normalize consumer lag on events.raw the edge answers 503.",
    )
    lag_group: str = Field(default="pipeline-normalize", description="Group whose lag counts.")
    lag_interval_s: float = Field(default=5.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After of 429/503 answers.")
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db shared by every edge replica for quotas; unset: "
        "each process counts its own.",
    )
    quotas: QuotaSettings = QuotaSettings()
