"""How cohorts are cut and published (settings section ``cohorts``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CohortSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Count every message by receive cohort.")
    width_s: int = Field(
        default=120, ge=1, le=3600, description="Cohort width: 120 s gives 30 cohorts an hour."
    )
    topic: str = Field(default="cohorts", description="The compacted topic of stage summaries.")
    keep: int = Field(
        default=60,
        ge=1,
        le=500,
        description="Newest cohorts each partition keeps counting (older ones are dropped).",
    )
    publish_interval_s: float = Field(
        default=5.0, gt=0, description="How often a stage publishes what it holds in flight."
    )
    stuck_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A cohort still unfinished at a stage this long after it closed is stuck.",
    )
