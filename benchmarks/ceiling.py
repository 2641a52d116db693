"""How much parallel CPU the machine gives right now: burn_cpu in 1 process against N processes.

On a shared machine the 2 cores are rarely both free; (c) is only as good as this ceiling.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from tests.support.stages import burn_cpu


def burn_chunk(iterations: int, count: int) -> int:
    for _ in range(count):
        burn_cpu(iterations)
    return count


def cpu_rate(processes: int, iterations: int, messages: int, chunk: int = 16) -> float:
    """Messages/s when ``processes`` processes do nothing but the work of (c)."""
    chunks = max(1, messages // chunk)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(burn_chunk, [iterations] * processes, [1] * processes))  # started
        started = time.perf_counter()
        list(pool.map(burn_chunk, [iterations] * chunks, [chunk] * chunks))
        return chunks * chunk / (time.perf_counter() - started)
