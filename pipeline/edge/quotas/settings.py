"""The ``edge.quotas`` settings: event limits per project and per public key over a window."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Sentry's data categories of error events (messages are "default", CSP reports "security").
EVENT_CATEGORIES = ("error", "default", "security")

DataCategory = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""A Sentry data category name (error, transaction, log_item, ...)."""


class QuotaLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(ge=0, description="Events allowed per window; 0 refuses every event.")
    window_s: float = Field(
        default=60.0,
        gt=0,
        le=30 * 86400,
        description="Window length in seconds; a window starts with its first event.",
    )


class ProjectQuota(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int | None = Field(
        default=None, ge=0, description="Events of the project per window; null: no limit."
    )
    window_s: float = Field(default=60.0, gt=0, le=30 * 86400)
    keys: dict[str, QuotaLimit] = Field(
        default_factory=dict,
        description="Public key (the DSN's key) to its own limit, counted besides the project's.",
    )


class QuotaSettings(BaseModel):
    """No limits by default: quotas are opt-in per project (or for all with ``default``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: QuotaLimit | None = Field(
        default=None, description="Limit of every project without an entry in ``projects``."
    )
    projects: dict[int, ProjectQuota] = Field(
        default_factory=dict, description="Project id to its limit (and its keys' limits)."
    )
    categories: tuple[DataCategory, ...] = Field(
        default=EVENT_CATEGORIES,
        min_length=1,
        description="Data categories the quotas count; items of other categories pass uncounted.",
    )
    on_backend_error: Literal["allow", "refuse"] = Field(
        default="allow",
        description="When Redis cannot answer: 'allow' (fail open: events are accepted "
        "uncounted, so a cache outage loses no data) or 'refuse' (fail closed: 429).",
    )
    redis_timeout_s: float = Field(
        default=0.25, gt=0, description="Longest a quota check waits for Redis."
    )
    redis_max_connections: int = Field(
        default=50, ge=1, description="Connections to Redis per edge process; checks queue for one."
    )
    redis_retry_s: float = Field(
        default=1.0,
        ge=0,
        description="After a Redis failure, checks skip Redis (and apply on_backend_error) "
        "this long, so an outage does not cost every request a timeout.",
    )
    redis_key_prefix: str = Field(
        default="pipeline:quota:", description="Prepended to every Redis key the quotas use."
    )
