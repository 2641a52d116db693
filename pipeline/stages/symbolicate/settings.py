"""Settings of the symbolicate stage."""

from pydantic import BaseModel, ConfigDict


class SymbolicateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
