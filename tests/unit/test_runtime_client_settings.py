"""Kafka client settings librdkafka refuses are a user's mistake: one clear error, no traceback."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from pipeline.config import KafkaSettings, RuntimeSettings, Settings
from pipeline.errors import ConfigError
from pipeline.runtime.runner import build_runtime
from pipeline.runtime.stage import StageSpec
from tests.support.stages import Scripted


def test_settings_librdkafka_refuses_raise_a_config_error_naming_them() -> None:
    settings = Settings(
        kafka=KafkaSettings(
            bootstrap_servers="127.0.0.1:1",
            client_config={"fetch.max.bytes": 1000},  # below message.max.bytes
        ),
        runtime=RuntimeSettings(http_port=None),
    )
    spec = StageSpec("scripted", "in", "group", Scripted("out"))
    with pytest.raises(ConfigError, match=r"fetch\.max\.bytes.*kafka\.client_config"):
        build_runtime(spec, settings, CollectorRegistry())
