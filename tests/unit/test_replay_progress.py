"""Where an unfinished replay must start again, and what its summary reports."""

from __future__ import annotations

from pipeline.replay.ranges import PartitionRange
from pipeline.replay.summary import PartitionProgress, ReplaySummary


def test_a_partition_resumes_at_the_first_offset_not_known_to_be_written() -> None:
    progress = PartitionProgress(start=10, end=20)
    assert progress.resume_offset == 10
    progress.next_offset = 15
    assert progress.resume_offset == 15
    progress.pending.update({12, 14})
    assert progress.resume_offset == 12
    progress.pending.discard(12)
    progress.failed(14)
    progress.failed(13)
    assert progress.first_failed == 13
    assert progress.remaining(4) == PartitionRange(4, 13, 20)
    assert progress.done == 5


def test_rate_counts_written_records_or_read_ones_in_a_dry_run() -> None:
    summary = ReplaySummary(source="s", dry_run=False, planned=10, read=10, written=4)
    summary.elapsed_s = 2.0
    assert summary.rate == 2.0
    dry = ReplaySummary(source="s", dry_run=True, planned=10, read=10, elapsed_s=2.0)
    assert dry.rate == 5.0
    assert ReplaySummary(source="s", dry_run=False, planned=0).rate == 0.0


def test_complete_means_nothing_failed_was_left_or_was_interrupted() -> None:
    assert ReplaySummary(source="s", dry_run=False, planned=1).complete
    assert not ReplaySummary(source="s", dry_run=False, planned=1, failed=1).complete
    assert not ReplaySummary(source="s", dry_run=False, planned=1, unacknowledged=1).complete
    assert not ReplaySummary(source="s", dry_run=False, planned=1, interrupted=True).complete
