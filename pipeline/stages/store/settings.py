"""Settings of the store stage: which database, and how events are batched into it."""

from pydantic import BaseModel, ConfigDict, Field


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn: str = Field(
        default="sqlite:///.pipeline/events.db",
        description=(
            "sqlite:///relative.db or sqlite:////absolute.db (embedded), "
            "postgresql://user@host:port/dbname (production)."
        ),
    )
    batch_size: int = Field(default=500, ge=1, description="Events written in one transaction.")
    batch_max_wait_s: float = Field(
        default=0.01, gt=0, description="Write a partial batch once its oldest event waited this."
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "How long to wait for the database (connecting, locks, one statement) "
            "before calling it unavailable."
        ),
    )
    exactly_once: bool = Field(
        default=True,
        description=(
            "Commit the outcomes and the input offsets in one Kafka transaction, so a stage "
            "killed mid-batch never counts an event twice; false is at-least-once (one Kafka "
            "round trip less per commit)."
        ),
    )
