"""PauseBook: a partition is paused while any of its own or any stage-wide reason holds."""

from __future__ import annotations

from pipeline.runtime.pauses import PauseBook


def book(*partitions: int) -> PauseBook[int]:
    pauses: PauseBook[int] = PauseBook()
    for partition in partitions:
        pauses.add_partition(partition)
    return pauses


def test_marking_reports_only_changes() -> None:
    pauses = book(0)
    assert pauses.mark(0, "window_full", True)
    assert not pauses.mark(0, "window_full", True)
    assert pauses.mark(0, "window_full", False)
    assert not pauses.mark(0, "window_full", False)


def test_an_unassigned_partition_cannot_be_paused() -> None:
    pauses = book(0)
    assert not pauses.mark(1, "window_full", True)
    assert pauses.paused() == set()
    assert pauses.reasons(1) == set()


def test_a_partition_stays_paused_until_its_last_reason_clears() -> None:
    pauses = book(0, 1)
    pauses.mark(0, "window_full", True)
    pauses.mark(0, "range_end", True)
    assert pauses.paused() == {0}
    pauses.mark(0, "window_full", False)
    assert pauses.paused() == {0}
    assert pauses.local_reasons(0) == {"range_end"}
    pauses.mark(0, "range_end", False)
    assert pauses.paused() == set()


def test_a_stage_wide_reason_pauses_every_partition_including_later_ones() -> None:
    pauses = book(0, 1)
    assert pauses.mark_global("sink_unavailable", True)
    assert not pauses.mark_global("sink_unavailable", True)
    pauses.add_partition(2)
    assert pauses.paused() == {0, 1, 2}
    assert pauses.reasons(2) == {"sink_unavailable"}
    assert pauses.local_reasons(2) == set()
    assert pauses.global_reasons() == frozenset({"sink_unavailable"})
    assert pauses.mark_global("sink_unavailable", False)
    assert pauses.paused() == set()


def test_own_and_stage_wide_reasons_combine() -> None:
    pauses = book(0, 1)
    pauses.mark(0, "window_full", True)
    pauses.mark_global("shutdown", True)
    assert pauses.reasons(0) == {"window_full", "shutdown"}
    pauses.mark_global("shutdown", False)
    assert pauses.paused() == {0}


def test_a_removed_partition_is_forgotten_with_its_reasons() -> None:
    pauses = book(0, 1)
    pauses.mark(0, "window_full", True)
    pauses.remove_partition(0)
    assert pauses.paused() == set()
    assert list(pauses.partitions()) == [1]
    pauses.add_partition(0)
    assert pauses.reasons(0) == set()
