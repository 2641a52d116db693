"""topics.yaml, validated into plain topic specs before anything talks to Kafka.

Every problem is reported at once, one line each, naming the topic and the key, so a user fixes
the file in one pass instead of one error per run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from pipeline.adapters.kafka.topics.durations import (
    UNLIMITED_MS,
    format_duration_ms,
    parse_duration_ms,
)
from pipeline.errors import UserError

CleanupPolicy = Literal["delete", "compact", "compact,delete"]
_T = TypeVar("_T")

# Kafka's own rules (org.apache.kafka.common.internals.Topic).
_MAX_TOPIC_NAME_LENGTH = 249
_TOPIC_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
# Set through the first-class keys, so a topic cannot say it twice.
_FIRST_CLASS_CONFIGS = {"retention.ms": "retention", "cleanup.policy": "cleanup_policy"}


class TopicsFileError(UserError):
    """topics.yaml cannot be read or does not validate."""


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would reject ``name`` as a topic name, or None when it is valid."""
    if name in ("", ".", ".."):
        return f"invalid topic name {name!r}"
    if len(name) > _MAX_TOPIC_NAME_LENGTH:
        return f"topic name is {len(name)} characters, Kafka allows {_MAX_TOPIC_NAME_LENGTH}"
    if not _TOPIC_NAME_CHARS.fullmatch(name):
        return f"topic name {name!r} may only hold ASCII letters, digits, '.', '_' and '-'"
    return None


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic, defaults applied; ``name`` is unprefixed, as topics.yaml spells it."""

    name: str
    partitions: int
    replication_factor: int
    retention_ms: int | None
    cleanup_policy: CleanupPolicy
    config: Mapping[str, str]
    backlog_source: bool = False

    def broker_configs(self) -> dict[str, str]:
        """Every topic config this spec declares, as the broker spells it."""
        configs = {"cleanup.policy": self.cleanup_policy, **self.config}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        return configs


class _TopicFields(BaseModel):
    """The keys a topic and the ``defaults:`` block share; unset means "inherit"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions: int | None = Field(default=None, ge=1, strict=True)
    replication_factor: int | None = Field(default=None, ge=1, strict=True)
    retention: int | None = None
    cleanup_policy: CleanupPolicy | None = None
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("retention", mode="before")
    @classmethod
    def _retention_ms(cls, value: object) -> int | None:
        return None if value is None else parse_duration_ms(value)

    @field_validator("cleanup_policy", mode="before")
    @classmethod
    def _policy_order(cls, value: object) -> object:
        if isinstance(value, str):
            return ",".join(sorted(part.strip() for part in value.split(",")))
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _config_strings(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {key: _config_value(str(key), raw) for key, raw in value.items()}


class _TopicEntry(_TopicFields):
    name: str
    backlog_source: bool = Field(
        default=False, description="A stage input that the backlog-drain group works off."
    )

    @field_validator("name")
    @classmethod
    def _kafka_name(cls, value: str) -> str:
        problem = topic_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class _TopicsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: _TopicFields = _TopicFields()
    topics: list[_TopicEntry] = Field(min_length=1)


def load_topics(path: Path, *, drain_horizon_s: float) -> tuple[TopicSpec, ...]:
    """The topics declared in ``path``; raises TopicsFileError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopicsFileError(f"cannot read topics file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopicsFileError(f"topics file {path} is not valid YAML: {exc}") from None
    return parse_topics(data, drain_horizon_s=drain_horizon_s, source=str(path))


def parse_topics(
    data: object, *, drain_horizon_s: float, source: str = "topics.yaml"
) -> tuple[TopicSpec, ...]:
    """Validate a parsed topics document; ``drain_horizon_s`` bounds backlog source retention."""
    if not isinstance(data, dict):
        raise TopicsFileError(f"{source} must hold a mapping with a 'topics:' list")
    try:
        document = _TopicsDocument.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(err, data) for err in exc.errors()]
        raise TopicsFileError(_report(source, lines)) from None
    specs, problems = _resolve(document)
    problems += _cross_topic_problems(specs)
    problems += _backlog_problems(specs, drain_horizon_ms=round(drain_horizon_s * 1000))
    if problems:
        raise TopicsFileError(_report(source, problems))
    return tuple(specs)


def _config_value(key: str, value: object) -> object:
    """Broker config values are strings; ``*.ms`` keys also take durations like ``1h``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and key.endswith(".ms") and not re.fullmatch(r"-?\d+", value):
        try:
            return str(parse_duration_ms(value))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return value


def _resolve(document: _TopicsDocument) -> tuple[list[TopicSpec], list[str]]:
    defaults = document.defaults
    specs: list[TopicSpec] = []
    problems: list[str] = []
    for entry in document.topics:
        partitions = _inherit(entry.partitions, defaults.partitions)
        replication = _inherit(entry.replication_factor, defaults.replication_factor)
        config = {**defaults.config, **entry.config}
        for key, value in (("partitions", partitions), ("replication_factor", replication)):
            if value is None:
                problems.append(
                    f"{entry.name}: {key}: missing (set it on the topic or in defaults)"
                )
        for key, field in _FIRST_CLASS_CONFIGS.items():
            if key in config:
                problems.append(f"{entry.name}: config.{key}: declare it as '{field}:' instead")
        if partitions is None or replication is None:
            continue
        specs.append(
            TopicSpec(
                name=entry.name,
                partitions=partitions,
                replication_factor=replication,
                retention_ms=_inherit(entry.retention, defaults.retention),
                cleanup_policy=entry.cleanup_policy or defaults.cleanup_policy or "delete",
                config=config,
                backlog_source=entry.backlog_source,
            )
        )
    return specs, problems


def _inherit(value: _T | None, default: _T | None) -> _T | None:
    return default if value is None else value


def _cross_topic_problems(specs: list[TopicSpec]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for spec in specs:
        # Kafka refuses topics whose names differ only in '.' versus '_' (their metrics collide).
        collision_key = spec.name.replace(".", "_")
        previous = seen.get(collision_key)
        if previous == spec.name:
            problems.append(f"{spec.name}: name: declared more than once")
        elif previous is not None:
            problems.append(f"{spec.name}: name: clashes with {previous} ('.' and '_' collide)")
        seen.setdefault(collision_key, spec.name)
        min_isr = spec.config.get("min.insync.replicas")
        if min_isr is not None and min_isr.isdigit() and int(min_isr) > spec.replication_factor:
            problems.append(
                f"{spec.name}: config.min.insync.replicas: {min_isr} is above replication_factor "
                f"{spec.replication_factor}, so producers with acks=all would always fail"
            )
    return problems


def _backlog_problems(specs: list[TopicSpec], *, drain_horizon_ms: int) -> list[str]:
    """Sliced ranges must outlive the drain horizon, or the drain group finds them expired."""
    problems: list[str] = []
    horizon = format_duration_ms(drain_horizon_ms)
    for spec in specs:
        if not spec.backlog_source or "delete" not in spec.cleanup_policy:
            continue
        if spec.retention_ms is None:
            problems.append(
                f"{spec.name}: retention: missing; a backlog_source topic must declare a retention "
                f"of at least the backlog drain horizon {horizon} (backlog.drain_horizon_s)"
            )
        elif spec.retention_ms != UNLIMITED_MS and spec.retention_ms < drain_horizon_ms:
            problems.append(
                f"{spec.name}: retention: {format_duration_ms(spec.retention_ms)} is shorter than "
                f"the backlog drain horizon {horizon} (backlog.drain_horizon_s); sliced ranges "
                "would expire before the backlog-drain group reaches them"
            )
    return problems


def _describe(err: ErrorDetails, data: dict[Any, Any]) -> str:
    loc = list(err["loc"])
    where = "(top level)"
    if loc[:1] == ["defaults"]:
        where, loc = "defaults", loc[1:]
    elif loc[:1] == ["topics"] and len(loc) > 1 and isinstance(loc[1], int):
        where, loc = _topic_label(data, loc[1]), loc[2:]
    key = ".".join(str(part) for part in loc) or "(entry)"
    if err["type"] == "extra_forbidden":
        return f"{where}: {key}: unknown key"
    if err["type"] == "missing":
        return f"{where}: {key}: missing"
    if err["type"] == "value_error":  # our own validators already quote the value
        return f"{where}: {key}: {err.get('ctx', {}).get('error')}"
    return f"{where}: {key}: {err['msg']} (got {err['input']!r})"


def _topic_label(data: dict[Any, Any], index: int) -> str:
    topics = data.get("topics")
    entry = topics[index] if isinstance(topics, list) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return str(name) if isinstance(name, str) and name else f"topics[{index}]"


def _report(source: str, problems: list[str]) -> str:
    return "\n".join([f"{source} is invalid:", *(f"  {line}" for line in problems)])
