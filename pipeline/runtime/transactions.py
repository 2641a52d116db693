"""Exactly-once output: a stage's records and the input offsets they came from, committed in
one Kafka transaction.

Works finish out of order within a partition, so a transaction may only carry the records of
offsets it commits: the loop holds each finished work's records until the partition's
committable offset has passed it, hands them over, then commits them together with that offset
(fenced through the consumer's group metadata, KIP-447). A redelivered message can then never
add a second copy of what it produced: either its first records were committed with its offset,
or they were aborted, and read_committed consumers (librdkafka's default) never see them.

A transaction that cannot commit is aborted. Nothing of it is visible, so the loop reads every
partition again from its committed offsets (StageRuntime._rewind), as a restart would: a broker
that restarts fences the group's members and fails the commit of whatever was open. Only when
the producer is fatally broken (fenced by a newer instance) or the abort fails does the stage
stop (crash-only): restarted, it reads again from the committed offsets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from pipeline.runtime.messages import Produce
from pipeline.runtime.output import Output
from pipeline.runtime.partition import Work

log = structlog.get_logger()

TRANSACTION_TIMEOUT_MS = 15_000
"""How long the coordinator waits before aborting the open transaction of a producer that died
(and read_committed consumers wait behind it), unless a restart with the same id aborts it
first. It must exceed a commit interval plus the time to commit one (kafka.client_config
can set transaction.timeout.ms)."""

_instances = itertools.count()
_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


class TransactionFailed(Exception):
    """The transaction was aborted or the producer fenced: nothing of it is visible."""

    def __init__(self, reason: str, recoverable: bool) -> None:
        super().__init__(reason)
        self.recoverable = recoverable
        """Aborted, and the producer may begin the next transaction."""


def transactional_id(group_id: str, client_id: str) -> str:
    """Stable across restarts of one container (same host name, same pid), so the restarted
    producer aborts what its predecessor left open at once; unique among the runtimes of one
    process (tests run several)."""
    return f"{group_id}.{client_id}.{next(_instances)}"


class TransactionalOutput(Output):
    def __init__(
        self, producer_config: dict[str, Any], on_full: Callable[[], None], transactional_id: str
    ) -> None:
        super().__init__(
            {
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                **producer_config,
                "transactional.id": transactional_id,
            },
            on_full,
        )
        self._open = False

    def start(self, timeout_s: float) -> None:
        """Registers the id with the coordinator, aborting a predecessor's open transaction."""
        self._producer.init_transactions(timeout_s)

    def hand_over(self, work: Work | None, record: Produce) -> bool:
        if not self._open:
            self._producer.begin_transaction()
            self._open = True
        return super().hand_over(work, record)

    def commit(self, offsets: list[TopicPartition], group_metadata: Any, timeout_s: float) -> None:
        """Commit the open transaction with ``offsets`` (its records flushed first, by
        librdkafka); raises TransactionFailed after aborting it."""
        if not offsets and not self._open:
            return
        if not self._open:
            self._producer.begin_transaction()
            self._open = True
        retrying = Retrying(
            retry=retry_if_exception(_retriable),
            stop=stop_after_delay(timeout_s),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            reraise=True,
        )
        try:
            if offsets:
                retrying(
                    self._producer.send_offsets_to_transaction, offsets, group_metadata, timeout_s
                )
            retrying(self._producer.commit_transaction, timeout_s)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            aborted = self.abort(timeout_s)
            raise TransactionFailed(_describe(exc), aborted and not error.fatal()) from exc
        self._open = False

    def abort(self, timeout_s: float) -> bool:
        """Best effort: a producer that cannot reach the coordinator leaves the transaction to
        time out (TRANSACTION_TIMEOUT_MS) or to its restarted successor. True if aborted."""
        if not self._open:
            return True
        self._open = False
        try:
            self._producer.abort_transaction(timeout_s)
        except KafkaException as exc:
            log.warning("runtime.transaction_abort_failed", error=_describe(exc))
            return False
        return True

    def _delivery_failed(self, error: KafkaError, msg: Message) -> None:
        """A record that failed fails its transaction's commit, which is then aborted and its
        input read again: sending the record again would put a copy in the next transaction.
        Records purged by an abort report here too, one by one: those are expected."""
        purged = error.code() in _PURGED
        (log.debug if purged else log.warning)(
            "runtime.transactional_delivery_failed", topic=msg.topic(), error=str(error)
        )


def _retriable(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException):
        return False
    error: KafkaError = exc.args[0]
    return bool(error.retriable()) and not error.txn_requires_abort() and not error.fatal()


def _describe(exc: KafkaException) -> str:
    error: KafkaError = exc.args[0]
    return error.str() if isinstance(error, KafkaError) else str(exc)
