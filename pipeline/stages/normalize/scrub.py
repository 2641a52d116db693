"""One pass over the parsed payload, in place: scrub PII and make every value encodable.

- a value whose key matches ``key_re`` becomes ``[Filtered]`` (also the second item of a
  ``[key, value]`` pair, the list form of headers and tags);
- Luhn-valid card numbers inside strings become ``[Filtered]``;
- NaN/Infinity (JSON extensions Python accepts, or overflowing literals like 1e999) become null;
- lone surrogates (``"\\ud800"``) become U+FFFD, since they cannot be encoded as UTF-8.

Per-string work is skipped when the raw JSON text shows it cannot be needed (no 13-digit run,
no surrogate escape), which is the common case. Depth is bounded by the parser, so recursion is
safe.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pipeline.stages.normalize.payload import DIGITS_AS_ZERO

FILTERED = "[Filtered]"

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# 13-19 digits, single spaces or dashes between them, starting like a card (2-6; 13-digit
# epoch-millisecond timestamps start with 1), and not part of a longer group of digits (such as
# the last segments of a UUID).
_CARD = re.compile(r"(?<!\d)(?<!\d[ -])[2-6](?:[ -]?\d){12,18}(?![ -]?\d)", re.ASCII)
_MIN_CARD_CHARS = 13
_CARD_DIGITS = b"0" * _MIN_CARD_CHARS
_DIGIT_ESCAPE = b"\\u003"


@dataclass(slots=True)
class ScrubReport:
    """What the pass changed that the event should mention in its errors."""

    non_finite_numbers: int = 0
    invalid_unicode: int = 0
    tiny_floats: int = 0  # below 1e-4: json writes 1e-05, orjson 1e-5 or 0.00001


def scrub_payload(
    payload: dict[str, Any], raw: bytes, key_re: re.Pattern[str] | None, cards: bool
) -> tuple[dict[str, Any], ScrubReport]:
    """Scrub ``payload`` (parsed from ``raw``) in place; returns it (maybe rebuilt) and a report."""
    cards = cards and _may_hold_card(raw)
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    scrubber = _Scrubber(key_re, cards, surrogates)
    return scrubber.object(payload), scrubber.report


def _may_hold_card(raw: bytes) -> bool:
    """False when no string in ``raw`` can hold 13 digits in a row, separators aside."""
    if _DIGIT_ESCAPE in raw:
        return True
    return _CARD_DIGITS in raw.translate(DIGITS_AS_ZERO, b" -")  # separators deleted


MAX_VERDICTS = 10_000
_VERDICTS: dict[re.Pattern[str] | None, dict[str, bool]] = {}


def _verdicts_for(key_re: re.Pattern[str] | None) -> dict[str, bool]:
    """Whether each key is sensitive, kept across events: the same keys recur in every event
    (and every frame), and asking the pattern cost more than the rest of scrubbing."""
    verdicts = _VERDICTS.get(key_re)
    if verdicts is None:
        verdicts = _VERDICTS.setdefault(key_re, {})
    return verdicts


class _Scrubber:
    __slots__ = ("_cards", "_key_re", "_strings", "_surrogates", "_verdicts", "report")

    def __init__(self, key_re: re.Pattern[str] | None, cards: bool, surrogates: bool) -> None:
        self._key_re = key_re
        self._cards = cards
        self._surrogates = surrogates
        self._strings = cards or surrogates
        self._verdicts = _verdicts_for(key_re)
        self.report = ScrubReport()

    def sensitive(self, key: str) -> bool:
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._key_re is not None and self._key_re.search(key) is not None
            if len(self._verdicts) >= MAX_VERDICTS:  # keys come from clients: bound them
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def object(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self._surrogates and not all(map(str.isascii, obj)):
            obj = {self.string(k): v for k, v in obj.items()}
        verdicts = self._verdicts
        for key, value in obj.items():
            if value is None:
                continue
            verdict = verdicts.get(key)
            if verdict if verdict is not None else self.sensitive(key):
                obj[key] = FILTERED
                continue
            kind = type(value)
            if kind is str:
                if self._strings:
                    obj[key] = self.string(value)
            elif kind is dict or kind is list or kind is float:
                obj[key] = self.value(value)
        return obj

    def array(self, items: list[Any]) -> list[Any]:
        for i, item in enumerate(items):
            kind = type(item)
            if kind is str:
                if self._strings:
                    items[i] = self.string(item)
            elif kind is list and self._sensitive_pair(item):
                item[0] = self.string(item[0])
                item[1] = FILTERED
            elif kind is dict or kind is list or kind is float:
                items[i] = self.value(item)
        return items

    def _sensitive_pair(self, item: list[Any]) -> bool:
        return (
            len(item) == 2
            and type(item[0]) is str
            and item[1] is not None
            and self.sensitive(item[0])
        )

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.string(value) if self._strings else value
        if kind is dict:
            return self.object(value)
        if kind is list:
            return self.array(value)
        if kind is float:
            return self.number(value)
        return value

    def number(self, value: float) -> float | None:
        if not math.isfinite(value):
            self.report.non_finite_numbers += 1
            return None
        if value and -1e-4 < value < 1e-4:
            self.report.tiny_floats += 1
        return value

    def string(self, text: str) -> str:
        if self._surrogates and not text.isascii() and _SURROGATE.search(text):
            self.report.invalid_unicode += 1
            text = _SURROGATE.sub("\ufffd", text)
        if self._cards and len(text) >= _MIN_CARD_CHARS:
            text = scrub_card_numbers(text)
        return text


def scrub_card_numbers(text: str) -> str:
    """``text`` with every Luhn-valid card-like number replaced by [Filtered]."""
    if _CARD.search(text) is None:
        return text
    return _CARD.sub(_filter_if_luhn, text)


def _filter_if_luhn(match: re.Match[str]) -> str:
    found = match.group()
    return FILTERED if luhn_valid([int(c) for c in found if c.isdigit()]) else found


def luhn_valid(digits: list[int]) -> bool:
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
