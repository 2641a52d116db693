"""Stages by name, for `pipeline run`: a built-in name or `module:factory` for your own."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.runtime.stage import StageSpec

StageFactory = Callable[[Settings], StageSpec]

BUILTIN: dict[str, str] = {
    "normalize": "pipeline.stages.normalize.stage:normalize_stage",
    "symbolicate": "pipeline.stages.symbolicate.stage:symbolicate_stage",
    "store": "pipeline.stages.store.stage:store_stage",
}


def resolve_stage(name: str, settings: Settings) -> StageSpec:
    target = BUILTIN.get(name, name)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN)) or "none yet"
        raise UserError(f"unknown stage {name!r}: use one of {known}, or module:factory")
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load stage {target!r}: {exc}") from None
    spec = factory(settings)
    if not isinstance(spec, StageSpec):
        raise UserError(f"{target} returned {type(spec).__name__}, not a StageSpec")
    return spec
