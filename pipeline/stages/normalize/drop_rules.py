"""Configured drop rules: the first rule whose every condition matches filters the event."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.stages.normalize.settings import DropRule
from pipeline.stages.normalize.versions import version_matches


def matching_rule(
    rules: Sequence[DropRule],
    *,
    sdk_name: str | None,
    sdk_version: str | None,
    level: str,
    timestamp_ms: int,
    now_ms: int,
) -> DropRule | None:
    for rule in rules:
        if _matches(rule, sdk_name, sdk_version, level, timestamp_ms, now_ms):
            return rule
    return None


def _matches(
    rule: DropRule,
    sdk_name: str | None,
    sdk_version: str | None,
    level: str,
    timestamp_ms: int,
    now_ms: int,
) -> bool:
    if rule.levels is not None and level not in rule.levels:
        return False
    if rule.older_than_s is not None and now_ms - timestamp_ms <= rule.older_than_s * 1000:
        return False
    if rule.sdk_name_re is not None and (
        sdk_name is None or rule.sdk_name_re.match(sdk_name) is None
    ):
        return False
    clauses = rule.sdk_version_clauses
    return clauses is None or version_matches(sdk_version, clauses)
