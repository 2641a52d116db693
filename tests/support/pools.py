"""Helpers for testing worker pools directly: shut one down without risking a hang, and see
what completions were left behind."""

from __future__ import annotations

import threading
import time
from queue import Empty, SimpleQueue
from typing import Any

from pipeline.runtime.pool import WorkPool

SHUTDOWN_DEADLINE_S = 2.0


def shut_down(pool: WorkPool, deadline_s: float = SHUTDOWN_DEADLINE_S) -> float:
    """Shut down and wait, in a helper thread so a hang fails the test instead of the suite;
    returns how long it took."""
    started = time.monotonic()
    closer = threading.Thread(target=pool.shutdown, args=(True,), daemon=True)
    closer.start()
    closer.join(deadline_s)
    assert not closer.is_alive(), f"shutdown(wait=True) still waiting after {deadline_s}s"
    return time.monotonic() - started


def leftovers(completions: SimpleQueue[Any]) -> list[Any]:
    """Completions nobody collected (after shutdown: ones nobody expected)."""
    left: list[Any] = []
    try:
        while True:
            left.append(completions.get_nowait())
    except Empty:
        return left
