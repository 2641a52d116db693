"""Which threads take work: the operator's setting, else what the stage's work needs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.config import RuntimeSettings, Settings
from pipeline.runtime.engine import runnable_threads
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize.stage import normalize_stage
from pipeline.stages.symbolicate.stage import symbolicate_stage
from tests.support.stages import Scripted


def test_a_user_stage_gets_two_so_an_occasional_slow_call_does_not_stall_its_work() -> None:
    spec = StageSpec("user", "in", "group", Scripted("out"))
    assert runnable_threads(spec, RuntimeSettings()) == 2


@pytest.mark.parametrize("factory", [normalize_stage, symbolicate_stage])
def test_the_stages_that_compute_run_on_one(factory: Callable[[Settings], StageSpec]) -> None:
    spec = factory(Settings())
    assert runnable_threads(spec, RuntimeSettings()) == 1


def test_the_setting_overrides_what_the_stage_declares() -> None:
    spec = normalize_stage(Settings())
    assert runnable_threads(spec, RuntimeSettings(runnable_threads=3)) == 3


def test_a_stage_declaring_no_runnable_thread_is_refused() -> None:
    with pytest.raises(ValueError, match="runnable_threads"):
        StageSpec("user", "in", "group", Scripted("out"), runnable_threads=0)
