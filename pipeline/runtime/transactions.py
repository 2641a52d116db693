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
that restarts fences the group's members and fails the commit of whatever was open. A
transaction that an outage kept open past transaction.timeout.ms is aborted by the coordinator,
which fences the producer; a new producer with the same id carries on. Only when the abort
fails, or the id cannot be registered again, does the stage stop (crash-only): restarted, it
reads again from the committed offsets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
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
_FENCED = (
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError._FATAL,  # what produce() raises once a fence has made the producer fatal
)
RECOVERY_TIMEOUT_S = 30.0
"""For the abort and re-registration after a record could not be handed over."""


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
        self._fenced = False
        """The last abort found the producer fenced."""

    def start(self, timeout_s: float) -> None:
        """Registers the id with the coordinator, aborting a predecessor's open transaction."""
        self._producer.init_transactions(timeout_s)

    def hand_over(self, work: Work | None, record: Produce) -> bool:
        """Raises TransactionFailed if the producer broke: what the transaction held is lost."""
        try:
            if not self._open:
                self._producer.begin_transaction()
                self._open = True
            return super().hand_over(work, record)
        except KafkaException as exc:
            raise self._failed(exc, RECOVERY_TIMEOUT_S) from exc

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
            raise self._failed(exc, timeout_s) from exc
        self._open = False

    def _failed(self, exc: KafkaException, timeout_s: float) -> TransactionFailed:
        """Abort what is open; recoverable if that worked, or if the producer was fenced and a
        new one registered the id again."""
        error: KafkaError = exc.args[0]
        aborted = self.abort(timeout_s)
        recoverable = aborted and not error.fatal()
        if not recoverable and (error.code() in _FENCED or self._fenced):
            recoverable = self._register_again(timeout_s)
        return TransactionFailed(_describe(exc), recoverable)

    def abort(self, timeout_s: float) -> bool:
        """Best effort: a producer that cannot reach the coordinator leaves the transaction to
        time out (TRANSACTION_TIMEOUT_MS) or to its restarted successor. True if aborted."""
        if not self._open:
            return True
        self._open = False
        try:
            self._producer.abort_transaction(timeout_s)
        except KafkaException as exc:
            self._fenced = exc.args[0].code() in _FENCED
            log.warning("runtime.transaction_abort_failed", error=_describe(exc))
            return False
        return True

    def _register_again(self, timeout_s: float) -> bool:
        """The coordinator aborted the transaction itself (it outlived transaction.timeout.ms,
        as when a broker outage stalls its commit) and moved the id's epoch on: this producer is
        fenced for good. No other live instance holds the id (it names this process), so a new
        producer takes the next epoch and the stage reads again instead of stopping."""
        with suppress(KafkaException):  # the fenced producer raises its fatal error again
            self._producer.purge()
            self._producer.poll(0)
        self._producer = Producer(self._producer_config)
        self._fenced = False
        try:
            self._producer.init_transactions(timeout_s)
        except KafkaException as exc:
            log.warning("runtime.transactions_not_registered", error=_describe(exc))
            return False
        log.warning("runtime.transactions_registered_again")
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
