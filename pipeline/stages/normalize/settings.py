"""Settings of the normalize stage."""

from pydantic import BaseModel, ConfigDict


class NormalizeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
