"""Version conditions of drop rules (``"< 2.0.0"``, ``">=1.2, <1.5"``) over SDK versions."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence

from packaging.version import InvalidVersion, Version

_CLAUSE = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*([^\s,]+)\s*")
_OPERATORS: dict[str, Callable[[Version, Version], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
VersionClause = tuple[Callable[[Version, Version], bool], Version]


def parse_version_condition(text: str) -> tuple[VersionClause, ...]:
    """``"< 2.0.0"`` or ``">=1.2, <1.5"``: comparisons joined by commas, all must hold.

    Plain version ordering, so a pre-release sorts before its release (2.0.0-beta.1 < 2.0.0),
    unlike PEP 440 specifiers, which exclude pre-releases of the bound.
    """
    clauses = []
    for part in text.split(","):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise ValueError(f"{text!r} is not a version condition like '< 2.0.0'")
        try:
            clauses.append((_OPERATORS[match[1]], Version(match[2])))
        except InvalidVersion:
            raise ValueError(f"{match[2]!r} in {text!r} is not a version") from None
    return tuple(clauses)


def version_matches(version: str | None, clauses: Sequence[VersionClause]) -> bool:
    """An SDK version that is missing or not a version never matches a version condition."""
    if version is None:
        return False
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return all(compare(parsed, bound) for compare, bound in clauses)
