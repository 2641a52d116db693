"""Settings of the store stage."""

from pydantic import BaseModel, ConfigDict


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
