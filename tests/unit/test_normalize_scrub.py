"""PII scrubbing: sensitive keys anywhere in the payload, card numbers inside strings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipeline.stages.normalize import NormalizeSettings
from pipeline.stages.normalize.scrub import (
    _VERDICTS,
    MAX_VERDICTS,
    luhn_valid,
    scrub_card_numbers,
    scrub_payload,
)
from tests.unit.test_normalize_schema import normalized, python_event

F = "[Filtered]"


def _extra(payload: dict[str, Any], settings: NormalizeSettings | None = None) -> Any:
    event = normalized({"message": "m", **payload}, settings or NormalizeSettings())
    return json.loads(event["extra_json"])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"extra": {"password": "p", "user": "u"}}, {"extra": {"password": F, "user": "u"}}),
        ({"extra": {"DB_PASSWORD": "p"}}, {"extra": {"DB_PASSWORD": F}}),
        ({"extra": {"Api_Key": 123}}, {"extra": {"Api_Key": F}}),
        ({"extra": {"secret": {"nested": [1, 2]}}}, {"extra": {"secret": F}}),
        ({"extra": {"token": None}}, {"extra": {"token": None}}),
        ({"contexts": {"db": {"passwd": "p"}}}, {"contexts": {"db": {"passwd": F}}}),
        (
            {"request": {"headers": {"Authorization": "Bearer x", "Accept": "*/*"}}},
            {"request": {"headers": {"Authorization": F, "Accept": "*/*"}}},
        ),
        (
            {"request": {"headers": [["Cookie", "s=1"], ["Accept", "*/*"]]}},
            {"request": {"headers": [["Cookie", F], ["Accept", "*/*"]]}},
        ),
        (
            {"request": {"cookies": {"a": "b"}, "data": {"csrftoken": "t"}}},
            {"request": {"cookies": F, "data": {"csrftoken": F}}},
        ),
        (
            {"breadcrumbs": [{"data": {"x-api-key": "k"}}]},
            {"breadcrumbs": [{"data": {"x-api-key": F}}]},
        ),
        (
            {"extra": {"list": [["password", "p", "3 items"]]}},
            {"extra": {"list": [["password", "p", "3 items"]]}},
        ),
        ({"extra": {"author": "a", "keyboard": "k"}}, {"extra": {"author": "a", "keyboard": "k"}}),
    ],
)
def test_values_of_sensitive_keys_are_filtered(payload: dict[str, Any], expected: Any) -> None:
    assert _extra(payload) == expected


def test_frame_vars_are_scrubbed_and_not_kept() -> None:
    event = normalized(python_event())
    assert "hunter2" not in json.dumps(event)
    assert "abc" not in event["extra_json"]  # extra.api_token and the session cookie
    assert json.loads(event["extra_json"])["extra"]["api_token"] == F


def test_the_scrubbed_keys_are_configurable() -> None:
    settings = NormalizeSettings(scrub_keys=("ssn",))
    assert _extra({"extra": {"user_SSN": "1", "password": "p"}}, settings) == {
        "extra": {"user_SSN": F, "password": "p"}
    }
    assert _extra({"extra": {"password": "p"}}, NormalizeSettings(scrub_keys=())) == {
        "extra": {"password": "p"}
    }


def test_non_ascii_keys_match_even_when_escaped() -> None:
    settings = NormalizeSettings(scrub_keys=("contraseña",))
    assert _extra({"extra": {"Contraseña": "x"}}, settings) == {"extra": {"Contraseña": F}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", f"card {F} ok"),
        ("4111-1111-1111-1111", F),
        ("4111111111111111", F),
        ("amex 378282246310005", f"amex {F}"),
        ("mc=5555555555554444;visa=4012888888881881", f"mc={F};visa={F}"),
        ("4111111111111112", "4111111111111112"),  # fails the Luhn check
        ("at 1700000000000 ms", "at 1700000000000 ms"),  # a timestamp, not a card
        ("41111111111111111111111", "41111111111111111111111"),  # too long
        ("4111  1111 1111 1111", "4111  1111 1111 1111"),  # double separators
        ("order 411111111111", "order 411111111111"),  # 12 digits
        ("11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555"),
        ("4111 1111 1111 1111 1", "4111 1111 1111 1111 1"),  # part of a longer group
    ],
)
def test_card_numbers_in_strings(text: str, expected: str) -> None:
    assert scrub_card_numbers(text) == expected
    event = normalized({"message": text, "tags": {"t": text}, "extra": {"e": [text]}})
    assert event["message"] == expected
    assert event["tags"] == [{"key": "t", "value": expected}]
    assert json.loads(event["extra_json"]) == {"extra": {"e": [expected]}}


def test_card_numbers_in_exception_values_and_context_lines_are_filtered() -> None:
    card = "5555 5555 5555 4444"
    exc = {"type": "E", "value": f"declined {card}", "stacktrace": [{"context_line": card}]}
    event = normalized({"exception": [exc]})
    assert event["exceptions"][0]["value"] == f"declined {F}"
    assert event["exceptions"][0]["frames"][0]["context_line"] == F


def test_card_scrubbing_can_be_switched_off() -> None:
    settings = NormalizeSettings(scrub_card_numbers=False)
    assert normalized({"message": "4111111111111111"}, settings)["message"] == "4111111111111111"


def test_escaped_digits_do_not_hide_a_card() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in "4111111111111111")
    assert normalized(f'{{"message": "{escaped}"}}'.encode())["message"] == F


@pytest.mark.parametrize(
    ("number", "valid"),
    [("79927398713", True), ("79927398710", False), ("4111111111111111", True), ("0", True)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid([int(c) for c in number]) is valid


def test_an_event_id_holding_a_card_like_digit_run_is_kept() -> None:
    """Regression: ids were scrubbed before being read, turning a Luhn-valid run into
    `[Filtered]` and the id into a generated one."""
    event_id = "4111111111111111" + "a" * 16
    assert scrub_card_numbers(event_id) != event_id  # the run alone would be filtered
    event = normalized({"event_id": event_id, "message": "boom"}, event_id="")
    assert event["event_id"] == event_id
    assert not [e for e in event["errors"] if e["kind"] == "invalid_event_id"]


def test_remembered_key_verdicts_stay_bounded_and_right() -> None:
    """Verdicts are kept across events, but keys come from clients: a flood of new keys must
    neither grow memory without bound nor make a sensitive key pass."""
    key_re = re.compile("password|secret", re.IGNORECASE)
    for n in range(3):
        payload = {f"field_{n}_{i}": "x" for i in range(MAX_VERDICTS)}
        payload["db_password"] = "hunter2"
        scrubbed, _ = scrub_payload(payload, json.dumps(payload).encode(), key_re, cards=False)
        assert scrubbed["db_password"] == "[Filtered]"
        assert scrubbed[f"field_{n}_0"] == "x"
        assert len(_VERDICTS[key_re]) <= MAX_VERDICTS
