"""Payloads normalize must reject (and report as `invalid` outcomes) without crashing.

The kinds match what broken clients really send: a body cut short or not JSON at all, a JSON
array, and an object whose content fields have types no SDK would use.
"""

from __future__ import annotations

import json
import random

INVALID_KINDS = ("not_json", "json_array", "wrong_types")


def invalid_payload(rng: random.Random, event_id: str) -> tuple[str, bytes]:
    """(kind, payload bytes) for a randomly chosen kind of ``INVALID_KINDS``."""
    kind = rng.choice(INVALID_KINDS)
    if kind == "not_json":
        return kind, _not_json(rng, event_id)
    if kind == "json_array":
        return kind, json.dumps([{"event_id": event_id, "message": "batched by mistake"}]).encode()
    body = {
        "event_id": event_id,
        "exception": rng.choice(("TypeError: x is undefined", {"values": "boom"}, 42)),
        "message": rng.choice((42, ["not", "a", "message"], True)),
        "level": 3,
    }
    return kind, json.dumps(body).encode()


def _not_json(rng: random.Random, event_id: str) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        whole = json.dumps({"event_id": event_id, "message": "the end of this body was lost"})
        return whole[: rng.randint(1, len(whole) - 1)].encode()
    if choice == 1:
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return f"event_id={event_id}&message=form+encoded".encode()
