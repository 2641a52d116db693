"""The ``edge`` settings section (the HTTP ingest server of issue 9)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.edge.quotas.settings import QuotaSettings


class EdgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db shared by every edge replica for quotas; unset: "
        "each process counts its own.",
    )
    quotas: QuotaSettings = QuotaSettings()
