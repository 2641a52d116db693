"""What `pipeline dev` hands its stages, and when its run counts as failed."""

from __future__ import annotations

from pathlib import Path

from pipeline.dev.session import Outcome, stage_env
from pipeline.generator import SendStats


def test_stages_get_the_same_cluster_and_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    env = stage_env({"PATH": "/bin"}, "127.0.0.1:9092", config)
    assert env == {
        "PATH": "/bin",
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "PIPELINE_CONFIG": str(config.resolve()),
    }
    assert "PIPELINE_CONFIG" not in stage_env({}, "b:1", None)


def test_a_clean_run_is_ok() -> None:
    assert Outcome(exit_codes={"normalize": 0, "store": 0}, load=SendStats()).ok


def test_a_stage_that_died_or_failed_to_stop_fails_the_run() -> None:
    assert not Outcome(exit_codes={"store": 0}, died={"store": 0}).ok
    assert not Outcome(exit_codes={"store": -9}).ok


def test_unacknowledged_events_or_a_generator_error_fail_the_run() -> None:
    assert not Outcome(load=SendStats(failed=1)).ok
    assert not Outcome(load=SendStats(unacknowledged=2)).ok
    assert not Outcome(load_error="boom").ok
