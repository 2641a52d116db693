"""The batch process API: how a StageSpec declares it, how pools cut and run batches, and how a
failed or miscounted batch falls back to one message at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from queue import Empty, SimpleQueue

import pytest

from pipeline.runtime.messages import InputMessage, Processed, Write
from pipeline.runtime.pool import Completion, Failure, OneByOne, ProcessPool, partition_chunks
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import StageSpec
from pipeline.runtime.thread_pool import ThreadPool
from tests.support.pools import leftovers, shut_down

FAST_RETRY = RetryPolicy(attempts=3, max_seconds=5.0, initial_backoff_s=0.001, max_backoff_s=0.002)
DEADLINE_S = 5.0


def message(partition: int, offset: int, value: bytes = b"ok") -> InputMessage:
    return InputMessage("in", partition, offset, None, value, 0)


def echo(msg: InputMessage) -> Processed:
    return Processed([Write((msg.partition, msg.offset))])


class Recording:
    """A batch function that records each call's (partition, offset) run; ``poison`` raises."""

    def __init__(self, wrong_count: bool = False) -> None:
        self.calls: list[list[tuple[int, int]]] = []
        self._wrong_count = wrong_count
        self._lock = threading.Lock()

    def __call__(self, msgs: Sequence[InputMessage]) -> list[Processed]:
        with self._lock:
            self.calls.append([(msg.partition, msg.offset) for msg in msgs])
        if any(msg.value == b"poison" for msg in msgs):
            raise ValueError("poison in the batch")
        results = [echo(msg) for msg in msgs]
        return results[:-1] if self._wrong_count and len(msgs) > 1 else results


def drain(completions: SimpleQueue[Completion], count: int) -> dict[tuple[int, int], object]:
    """``count`` completions by (partition, offset), failing on a duplicate or the deadline."""
    done: dict[tuple[int, int], object] = {}
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < count:
        try:
            task, outcome = completions.get(timeout=max(0.0, deadline - time.monotonic()))
        except Empty:
            pytest.fail(f"{len(done)} of {count} completions before the deadline")
        key = (task.partition, task.offset)
        assert key not in done, f"{key} completed twice"
        done[key] = outcome
    return done


@pytest.fixture
def completions() -> SimpleQueue[Completion]:
    return SimpleQueue()


@pytest.fixture
def batch_pool(completions: SimpleQueue[Completion]) -> Iterator[tuple[ThreadPool, Recording]]:
    fn = Recording()
    pool = ThreadPool(OneByOne(fn), FAST_RETRY, completions, max_workers=4, batch=fn)
    yield pool, fn
    shut_down(pool)


# ----- the declaration ----------------------------------------------------------------------


def test_a_stage_sets_exactly_one_process_function() -> None:
    with pytest.raises(ValueError, match="exactly one of process and process_batch"):
        StageSpec("s", "in", "g")
    with pytest.raises(ValueError, match="exactly one of process and process_batch"):
        StageSpec("s", "in", "g", echo, process_batch=Recording())


def test_the_per_message_function_stays_the_fourth_positional_field() -> None:
    assert StageSpec("s", "in", "g", echo).process is echo


def test_a_coroutine_batch_function_is_refused() -> None:
    async def batch(msgs: Sequence[InputMessage]) -> list[Processed]:
        return []

    with pytest.raises(ValueError, match="process_batch must be a plain function"):
        StageSpec("s", "in", "g", process_batch=batch)  # type: ignore[arg-type]


# ----- cutting batches ----------------------------------------------------------------------


def test_chunks_never_mix_partitions_and_keep_offset_order() -> None:
    tasks = [message(0, n) for n in range(5)] + [message(1, 0), message(0, 5)]
    chunks = [[(t.partition, t.offset) for t in c] for c in partition_chunks(tasks, 3)]
    assert chunks == [[(0, 0), (0, 1), (0, 2)], [(0, 3), (0, 4)], [(1, 0)], [(0, 5)]]


# ----- running them -------------------------------------------------------------------------


def test_a_chunk_is_one_call_of_one_partition(
    batch_pool: tuple[ThreadPool, Recording], completions: SimpleQueue[Completion]
) -> None:
    pool, fn = batch_pool
    tasks = [message(p, n) for p in range(3) for n in range(100)]
    pool.submit(tasks)
    done = drain(completions, len(tasks))
    assert all(done[(t.partition, t.offset)] == echo(t) for t in tasks)
    assert len(fn.calls) < len(tasks) / 10
    for call in fn.calls:
        assert len({partition for partition, _ in call}) == 1
        assert [offset for _, offset in call] == sorted(offset for _, offset in call)


def test_a_failing_batch_dead_letters_only_its_poison_message(
    batch_pool: tuple[ThreadPool, Recording], completions: SimpleQueue[Completion]
) -> None:
    pool, fn = batch_pool
    tasks = [message(0, n, b"poison" if n == 7 else b"ok") for n in range(20)]
    pool.submit(tasks)
    done = drain(completions, len(tasks))
    failed = {key for key, outcome in done.items() if type(outcome) is Failure}
    assert failed == {(0, 7)}
    assert "ValueError: poison in the batch" in done[(0, 7)].error  # type: ignore[attr-defined]
    assert fn.calls[1:] == [[(0, n)] for n in range(20)]
    assert leftovers(completions) == []


def test_a_miscounted_batch_runs_one_by_one(completions: SimpleQueue[Completion]) -> None:
    fn = Recording(wrong_count=True)
    pool = ThreadPool(OneByOne(fn), FAST_RETRY, completions, max_workers=4, batch=fn)
    try:
        tasks = [message(0, n) for n in range(10)]
        pool.submit(tasks)
        done = drain(completions, len(tasks))
    finally:
        shut_down(pool)
    assert all(done[(t.partition, t.offset)] == echo(t) for t in tasks)
    assert fn.calls[0] == [(0, n) for n in range(10)]
    assert len(fn.calls) == 11


def test_one_by_one_refuses_a_wrong_count_for_one_message() -> None:
    with pytest.raises(Exception, match="returned 0 results for 1 message"):
        OneByOne(lambda msgs: [])(message(0, 0))


def batch_in_a_worker_process(msgs: Sequence[InputMessage]) -> list[Processed]:
    """Module level, so a spawned worker can import it."""
    if any(msg.value == b"poison" for msg in msgs):
        raise ValueError("poison in the batch")
    return [echo(msg) for msg in msgs]


def test_worker_processes_run_chunks_as_batches_with_the_same_fallback(
    completions: SimpleQueue[Completion],
) -> None:
    pool = ProcessPool(
        OneByOne(batch_in_a_worker_process),
        FAST_RETRY,
        completions,
        workers=1,
        batch=batch_in_a_worker_process,
    )
    try:
        tasks = [message(n % 2, n // 2, b"poison" if n == 9 else b"ok") for n in range(40)]
        pool.submit(tasks)
        done = drain(completions, len(tasks))
    finally:
        pool.shutdown(wait=True)
    failed = {key for key, outcome in done.items() if type(outcome) is Failure}
    assert failed == {(1, 4)}
    assert all(done[(t.partition, t.offset)] == echo(t) for t in tasks if t.value == b"ok")
