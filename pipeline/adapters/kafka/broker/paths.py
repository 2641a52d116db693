"""Where the local broker keeps its jars and state: a per-user cache, never the repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.config import PROJECT_ROOT

BROKER_POM = PROJECT_ROOT / "deploy" / "kafka" / "pom.xml"


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$PIPELINE_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/pipeline``."""
    if explicit := env.get("PIPELINE_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "pipeline"
