"""Watches the next stage's consumer lag; intake pauses while it is above the limit.

Runs on its own thread with its own clients, so slow broker reads never block polling.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from confluent_kafka import KafkaException

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader

log = structlog.get_logger()


class DownstreamLagMonitor:
    def __init__(
        self,
        admin_config: dict[str, Any],
        group: str,
        topic: str,
        max_lag: int,
        interval_s: float,
        reason: str = "downstream_lag",
    ) -> None:
        """``reason`` names the pause: the drain uses this monitor on the live group too."""
        self.reason = reason
        self._reader = GroupOffsetsReader(admin_config)
        self._group, self._topic, self._max = group, topic, max_lag
        self._interval = interval_s
        self.lag: int | None = None
        self._over = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="downstream-lag", daemon=True)

    @property
    def over_limit(self) -> bool:
        return self._over

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        """The reader belongs to this thread, so it is closed here, never under a read."""
        with self._reader:
            while not self._stop.is_set():
                try:
                    self.lag = self._reader.read(self._group, self._topic).lag
                    # Resume only well below the limit so intake does not flap at the boundary.
                    self._over = self.lag > (self._max // 2 if self._over else self._max)
                except (KafkaException, KeyError) as exc:
                    log.warning("runtime.downstream_lag_unknown", group=self._group, error=str(exc))
                self._stop.wait(self._interval)
