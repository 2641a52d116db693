"""In-memory caches shared by the worker threads: every method holds its lock only briefly."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class WeightedLRU(Generic[K, V]):
    """Least recently used entries leave first once the summed weights exceed ``max_weight``."""

    def __init__(self, max_weight: int) -> None:
        self._max_weight = max_weight
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, weight: int) -> None:
        """An entry heavier than the whole cache is not kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            if weight > self._max_weight:
                return
            self._entries[key] = (value, weight)
            self._weight += weight
            while self._weight > self._max_weight:
                _, (_, evicted_weight) = self._entries.popitem(last=False)
                self._weight -= evicted_weight

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weight(self) -> int:
        return self._weight


class ExpiringCache(Generic[K, V]):
    """Entries expire ``ttl_s`` after they were put; at most ``max_entries``, oldest out first."""

    def __init__(self, *, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Without the lock: one dict lookup is atomic, and every frame of every event asks,
        from every worker thread at once."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[1]:
            with self._lock:
                if self._entries.get(key) is entry:  # not put again meanwhile
                    del self._entries[key]
            return None
        return entry[0]

    def put(self, key: K, value: V) -> None:
        if self._max_entries == 0 or self._ttl_s <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (value, self._clock() + self._ttl_s)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)


class _Call(Generic[V]):
    def __init__(self) -> None:
        self.future: Future[V] = Future()
        self.waiting = 0


class SingleFlight(Generic[K, V]):
    """Concurrent calls for one key run the work once; the others wait for its result."""

    def __init__(self) -> None:
        self._calls: dict[K, _Call[V]] = {}
        self._lock = threading.Lock()

    def waiting(self) -> int:
        """Calls now blocked on work another call runs for them (duplicates saved)."""
        with self._lock:
            return sum(call.waiting for call in self._calls.values())

    def run(self, key: K, work: Callable[[], V]) -> V:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.waiting += 1
        future = call.future
        if not leader:
            return future.result()
        try:
            result = work()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            with self._lock:
                del self._calls[key]
