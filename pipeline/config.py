"""One settings model for every command and stage, from a YAML file and PIPELINE_* variables.

Precedence, highest first: keyword arguments, PIPELINE_* environment variables (nested with
``__``, e.g. ``PIPELINE_KAFKA__BOOTSTRAP_SERVERS``), the YAML file, the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pipeline.cohorts.settings import CohortSettings
from pipeline.edge.settings import EdgeSettings
from pipeline.errors import ConfigError
from pipeline.stages.normalize.settings import NormalizeSettings
from pipeline.stages.store.settings import StoreSettings
from pipeline.stages.symbolicate.settings import SymbolicateSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = Path("pipeline.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(Section):
    bootstrap_servers: str | None = Field(
        default=None,
        description="host:port list; unset means the local development broker (pipeline kafka up).",
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent schema registry; unset means Avro single-object encoding.",
    )
    group_protocol: Literal["consumer", "classic"] = Field(
        default="consumer",
        description="'consumer' is KIP-848; 'classic' uses cooperative-sticky assignment.",
    )
    client_config: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Extra librdkafka settings for every client (security.protocol, sasl.*, ...).",
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name of topics.yaml (isolates tests and tenants).",
    )
    topics_file: Path = PROJECT_ROOT / "topics.yaml"
    schemas_dir: Path = PROJECT_ROOT / "schemas"

    def topic(self, name: str) -> str:
        """The broker-side name of the topic topics.yaml calls ``name``."""
        return self.topic_prefix + name


class RuntimeSettings(Section):
    """Limits of the stage runtime; DESIGN.md "The stage runtime"."""

    max_in_flight_per_partition: int = Field(
        default=5000,
        ge=1,
        description="Unfinished messages a partition may hold; a full window pauses it alone.",
    )
    max_in_flight: int = Field(
        default=20000, ge=1, description="Unfinished messages the whole stage may hold."
    )
    resume_below: float = Field(
        default=0.5, gt=0, lt=1, description="Resume a paused partition below this window fill."
    )
    workers: int = Field(
        default=4096,
        ge=1,
        description="Most threads in threads mode. runnable_threads take work; a call running "
        "past 5 ms that waits (no CPU for 20 ms) is replaced by another thread, so each slow "
        "call costs one thread, never the stage. "
        "An async def process function needs none: its waits are coroutines.",
    )
    runnable_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads in threads mode that take new work while no call is stuck; unset, "
        "the stage's own default: 1 for normalize, symbolicate and store, which compute (on "
        "two cores one thread ran them 20-40% faster than two, benchmarks.stages), 2 for other "
        "stages, whose plain functions may wait (with 1% of calls slow, two threads ran at "
        "0.48-0.79 of the none-slow rate, one at 0.44-0.55, benchmarks.runtime d).",
    )
    processes: int | None = Field(
        default=None, ge=1, description="Worker processes in processes mode; default one per core."
    )
    commit_interval_s: float = Field(default=1.0, gt=0)
    gc_young_threshold: int | None = Field(
        default=20_000,
        ge=100,
        description="Allocations between young garbage collections while a stage runs (CPython's "
        "default of 700 cost a third of the hot path); null leaves the interpreter's settings.",
    )
    revoke_grace_s: float = Field(default=10.0, ge=0)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    retry_attempts: int = Field(default=5, ge=1)
    retry_max_s: float = Field(default=30.0, gt=0)
    retry_initial_backoff_s: float = Field(default=0.1, gt=0)
    retry_max_backoff_s: float = Field(default=5.0, gt=0)
    max_failure_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Stop the stage when this share of a partition's recent messages fail.",
    )
    failure_window: int = Field(default=200, ge=10)
    producer_queue_high: float = Field(
        default=0.8, gt=0, le=1, description="Pause intake above this fill of the producer queue."
    )
    downstream_group: str | None = None
    downstream_topic: str | None = None
    downstream_max_lag: int | None = Field(default=None, ge=1)
    downstream_check_interval_s: float = Field(default=2.0, gt=0)
    http_port: int | None = Field(
        default=9100,
        ge=0,
        le=65535,
        description="/healthz, /readyz, /metrics; 0 picks a free port (logged), null turns it off.",
    )


class BacklogSettings(Section):
    """Slicing stale backlogs off live consumers and draining them; DESIGN.md "Backlog"."""

    enabled: bool = Field(
        default=True, description="Live stages slice stale backlogs off into the ledger."
    )
    stale_after_s: float = Field(
        default=300.0, gt=0, description="Slice a partition whose next message is older than this."
    )
    min_slice_messages: int = Field(
        default=1000, ge=1, description="Slice only when at least this many messages are behind."
    )
    drain_horizon_s: float = Field(
        default=6 * 3600.0, gt=0, description="How long a sliced range may wait to be drained."
    )
    ledger_topic: str = "pipeline.backlog"
    ledger_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a ledger write may wait for the broker's ack."
    )
    progress_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="The drain records its progress in the ledger this often; a restarted drain "
        "re-processes at most this much work.",
    )
    refresh_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="The drain checks its ranges against the topic's retention this often.",
    )
    live_max_lag: int = Field(
        default=10_000,
        ge=1,
        description="The drain pauses while the live group is more than this many messages "
        "behind on the input topic.",
    )
    live_check_interval_s: float = Field(
        default=2.0, gt=0, description="How often the drain reads the live group's lag."
    )
    drain_max_rate: float | None = Field(
        default=10_000,
        gt=0,
        description="Messages/s the drain may take (averaged over seconds); null: no cap. "
        "Uncapped, a drain competes with live traffic for the broker and the CPU (fresh-event "
        "p99 3.6x on a 2-core machine); raise it where the cluster has spare capacity.",
    )
    drain_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="`pipeline run --backlog` lowers its CPU priority by this much (nice), so "
        "live stages sharing its cores come first.",
    )


class ObservabilitySettings(Section):
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    backlog: BacklogSettings = BacklogSettings()
    normalize: NormalizeSettings = NormalizeSettings()
    symbolicate: SymbolicateSettings = SymbolicateSettings()
    store: StoreSettings = StoreSettings()
    edge: EdgeSettings = EdgeSettings()
    cohorts: CohortSettings = CohortSettings()
    observability: ObservabilitySettings = ObservabilitySettings()

    @model_validator(mode="after")
    def _downstream_complete(self) -> Settings:
        r = self.runtime
        parts = (r.downstream_group, r.downstream_topic, r.downstream_max_lag)
        if any(p is not None for p in parts) and not all(p is not None for p in parts):
            raise ValueError(
                "runtime.downstream_group, downstream_topic and downstream_max_lag go together"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``path`` (or $PIPELINE_CONFIG, or ./pipeline.yaml if present) and the env."""
    if path is None:
        env_path = os.environ.get("PIPELINE_CONFIG")
        if env_path:
            path = Path(env_path)
        elif DEFAULT_CONFIG_FILE.exists():
            path = DEFAULT_CONFIG_FILE
    settings_cls: type[Settings] = Settings
    if path is not None:
        _check_yaml(path)
        config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": path})
        settings_cls = cast(
            type[Settings], type("FileSettings", (Settings,), {"model_config": config})
        )
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, path)) from None


def _check_yaml(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"config file {path} must hold a mapping of sections, not a {kind}")


def describe_validation_error(exc: ValidationError, source: Path | None = None) -> str:
    """One line per problem, naming the setting by its dotted path and the env variable for it."""
    where = f" in {source}" if source else ""
    lines = [f"invalid settings{where}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        env = "PIPELINE_" + "__".join(str(p) for p in err["loc"]).upper()
        got = f" (got {err['input']!r})" if err["type"] != "missing" and "input" in err else ""
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"  {loc}: {message}{got}  [env {env}]")
    return "\n".join(lines)
