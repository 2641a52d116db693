"""Garbage-collector settings for a process whose hot path allocates a few objects per message.

With CPython's defaults a young collection runs every 700 allocations, and every older one walks
every object the process holds (imported modules, schemas, clients): in the identity benchmark
that was a third of the stage's CPU. Messages are short-lived and rarely form cycles, so the
stage freezes what exists at start (it lives as long as the process anyway) and collects the
young generation far less often.
"""

from __future__ import annotations

import gc


def tune_for_streaming(young_threshold: int) -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
