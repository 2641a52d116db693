"""The dev broker's state file: what `pipeline kafka up` started, for `down`, `status`, clients."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.adapters.kafka.broker.kraft import process_markers
from pipeline.adapters.kafka.broker.paths import cache_dir
from pipeline.adapters.kafka.broker.process import is_ours
from pipeline.adapters.kafka.broker.readiness import tcp_open
from pipeline.errors import UserError


class DevBroker(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["kraft", "docker"]
    bootstrap: str
    broker_port: int
    controller_port: int | None = None
    pid: int | None = None
    root: Path | None = None
    """The KRaft broker's directory: config, broker.log and data/."""
    container_id: str | None = None

    def is_running(self) -> bool:
        """Our JVM still runs (KRaft), or the container's port still accepts connections."""
        if self.kind == "kraft" and self.pid is not None and self.root is not None:
            return is_ours(self.pid, process_markers(self.root))
        return self.kind == "docker" and tcp_open(self.bootstrap, 1.0)


def state_file(env: Mapping[str, str]) -> Path:
    return cache_dir(env) / "dev-broker.json"


def dev_broker_root(env: Mapping[str, str]) -> Path:
    """Kept between `down` and `up`, so topics and offsets survive a restart."""
    return (cache_dir(env) / "dev-broker").resolve()


def read_state(path: Path) -> DevBroker | None:
    try:
        return DevBroker.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError:
        raise UserError(f"the dev broker state file {path} is unreadable; delete it.") from None


def write_state(path: Path, state: DevBroker) -> None:
    """Write-then-rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(state.model_dump_json(indent=2))
    os.replace(partial, path)


def running_dev_broker(env: Mapping[str, str]) -> DevBroker | None:
    state = read_state(state_file(env))
    return state if state is not None and state.is_running() else None
