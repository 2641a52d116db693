"""Settings of the normalize stage: payload limits, trimming, scrubbing and drop rules.

Regexes and lookup sets are compiled once, when the settings are built, so normalizing an event
shares no mutable state. Build new settings with the constructor (``model_copy`` skips that step).
"""

from __future__ import annotations

import re
from fnmatch import translate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from pipeline.stages.normalize.versions import VersionClause, parse_version_condition

Level = Literal["fatal", "error", "warning", "info", "debug"]

DEFAULT_SCRUB_KEYS = (
    "password",
    "passwd",
    "mysql_pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "cookie",
    "credentials",
    "private_key",
    "privatekey",
    "session_id",
    "sessionid",
)
DEFAULT_RESERVED_TAG_KEYS = (
    "release",
    "dist",
    "environment",
    "level",
    "user",
    "transaction",
    "platform",
    "event_id",
    "timestamp",
    "project",
)


class DropRule(BaseModel):
    """Filter events matching every condition given; the rule's name is the outcome's reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$", description="e.g. sdk_blocked.")
    sdk_name: str | None = Field(default=None, description="Exact SDK name or a glob (sentry.*).")
    sdk_version: str | None = Field(
        default=None,
        description="e.g. '< 2.0.0' or '>=1.2, <1.5'; an unparsable SDK version never matches.",
    )
    older_than_s: float | None = Field(
        default=None, gt=0, description="Event timestamp (after clamping) older than this."
    )
    levels: frozenset[Level] | None = Field(default=None, min_length=1)

    _sdk_name_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _sdk_version: tuple[VersionClause, ...] | None = PrivateAttr(default=None)

    @field_validator("sdk_version")
    @classmethod
    def _valid_condition(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version_condition(value)
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> DropRule:
        conditions = (self.sdk_name, self.sdk_version, self.older_than_s, self.levels)
        if all(c is None for c in conditions):
            raise ValueError(f"drop rule {self.name!r} needs at least one condition")
        return self

    def model_post_init(self, context: Any, /) -> None:
        if self.sdk_name is not None:
            self._sdk_name_re = re.compile(translate(self.sdk_name))
        if self.sdk_version is not None:
            self._sdk_version = parse_version_condition(self.sdk_version)

    @property
    def sdk_name_re(self) -> re.Pattern[str] | None:
        return self._sdk_name_re

    @property
    def sdk_version_clauses(self) -> tuple[VersionClause, ...] | None:
        return self._sdk_version


class NormalizeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_payload_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_depth: int = Field(
        default=64, ge=2, le=128, description="Nesting of JSON containers; the top object is 1."
    )
    max_future_s: float = Field(default=60.0, ge=0)
    max_past_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    default_platform: str = "other"
    reserved_tag_keys: tuple[str, ...] = DEFAULT_RESERVED_TAG_KEYS
    max_tag_key_chars: int = Field(default=32, ge=1)
    max_tag_value_chars: int = Field(default=200, ge=1)
    max_attribute_chars: int = Field(
        default=200, ge=1, description="release, dist, environment, platform, SDK name/version."
    )
    max_message_chars: int = Field(default=8192, ge=16)
    max_exceptions: int = Field(default=25, ge=1, description="Chained exceptions; newest kept.")
    max_exception_type_chars: int = Field(default=256, ge=16)
    max_exception_value_chars: int = Field(default=4096, ge=16)
    max_frames: int = Field(default=250, ge=2, description="Per stack trace; the middle is cut.")
    max_frame_field_chars: int = Field(default=1024, ge=16, description="Paths, functions.")
    max_context_lines: int = Field(default=10, ge=0, description="pre/post context, each side.")
    max_context_line_chars: int = Field(default=256, ge=16)
    scrub_keys: tuple[str, ...] = Field(
        default=DEFAULT_SCRUB_KEYS,
        description="A value whose key contains one of these (any case) becomes [Filtered].",
    )
    scrub_card_numbers: bool = True
    max_errors: int = Field(default=50, ge=1, description="Processing errors kept per event.")
    drop_rules: tuple[DropRule, ...] = ()
    mode: Literal["threads", "processes"] = Field(
        default="threads",
        description="'processes' runs runtime.workers worker processes (set it to the cores); "
        "it pays off only with cores to spare beside the consumer loop's own: on 2 cores "
        "threads were as fast or faster.",
    )

    _scrub_key_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _reserved_tags: frozenset[str] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: Any, /) -> None:
        keys = [k.lower() for k in self.scrub_keys if k]
        if keys:
            self._scrub_key_re = re.compile("|".join(map(re.escape, keys)), re.IGNORECASE)
        self._reserved_tags = frozenset(k.lower() for k in self.reserved_tag_keys)

    @property
    def scrub_key_re(self) -> re.Pattern[str] | None:
        """Matches a key whose value must be scrubbed; None when scrubbing by key is off."""
        return self._scrub_key_re

    @property
    def reserved_tags(self) -> frozenset[str]:
        """Reserved tag keys, lowercased."""
        return self._reserved_tags
