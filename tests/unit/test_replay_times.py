"""Times given on the command line, as epoch milliseconds."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.errors import UserError
from pipeline.replay.times import parse_time_ms

NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-2h", NOW - 7_200_000),
        ("-1h30m", NOW - 5_400_000),
        ("-500ms", NOW - 500),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-15T00:13:20.250+02:00", 1_700_000_000_250),
    ],
)
def test_absolute_and_relative_times(text: str, expected: int) -> None:
    assert parse_time_ms(text, NOW) == expected


def test_a_time_without_a_zone_is_local_time() -> None:
    expected = int(datetime(2024, 5, 1, 12, 0).timestamp() * 1000)
    assert parse_time_ms("2024-05-01T12:00", NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "-2", "2h", "-2x", "2024-13-01"])
def test_unreadable_times_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="cannot read the time"):
        parse_time_ms(text, NOW)
