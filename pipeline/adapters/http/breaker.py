"""Per-host circuit breaker: a host that keeps failing is left alone for a while.

One slow or broken CDN must not cost a fetch timeout on every event that points at it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _HostState:
    failures: deque[float] = field(default_factory=deque)
    open_until: float = 0.0


class HostCircuitBreaker:
    """Opens for ``cooldown_s`` after ``max_failures`` failures within ``window_s``; thread-safe."""

    def __init__(
        self,
        *,
        max_failures: int,
        window_s: float,
        cooldown_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()

    def allows(self, host: str) -> bool:
        with self._lock:
            state = self._hosts.get(host)
            return state is None or self._clock() >= state.open_until

    def record_success(self, host: str) -> None:
        with self._lock:
            self._hosts.pop(host, None)

    def record_failure(self, host: str) -> bool:
        """Counts a failure; True when this one opened the circuit."""
        now = self._clock()
        with self._lock:
            state = self._hosts.setdefault(host, _HostState())
            state.failures.append(now)
            while state.failures and state.failures[0] <= now - self._window_s:
                state.failures.popleft()
            if len(state.failures) < self._max_failures:
                return False
            state.failures.clear()
            state.open_until = now + self._cooldown_s
            return True
