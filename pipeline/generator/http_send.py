"""Sending generated events through the edge over HTTP, as SDKs do (`pipeline dev`).

A few worker threads post concurrently, so the generator's rate is not capped by one round
trip at a time; at most ``max_pending`` posts wait, so a slow edge slows the generator down
instead of queueing without bound. An answer below 500 other than 429 counts as acknowledged:
the edge took the event (or refused it for good, as it must refuse the invalid ones). A 429 or
503 is the edge pushing back: the post waits out its ``Retry-After`` and tries again, as SDKs
do, and counts as failed only when ``retry_for_s`` runs out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay

from pipeline.generator.factory import GeneratedRecord
from pipeline.generator.send import SendStats

log = structlog.get_logger()

_PUSHBACK = frozenset({429, 503})
_MAX_RETRY_AFTER_S = 60.0


def _pushed_back(response: httpx.Response) -> bool:
    return response.status_code in _PUSHBACK


def _retry_after(state: RetryCallState) -> float:
    """The edge's own ``Retry-After`` (seconds), bounded; one second when it gave none."""
    assert state.outcome is not None
    header = state.outcome.result().headers.get("Retry-After", "1")
    try:
        return min(max(float(header), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return 1.0


class EdgeSender:
    def __init__(
        self,
        base_url: str,
        keys: Mapping[int, str],
        stats: SendStats,
        workers: int = 8,
        timeout_s: float = 10.0,
        retry_for_s: float = 120.0,
    ) -> None:
        """``keys``: the public key to send each project's events with."""
        self._keys = keys
        self._retrying = Retrying(
            retry=retry_if_result(_pushed_back),
            wait=_retry_after,
            stop=stop_after_delay(retry_for_s),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        self._stats = stats
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="edge-sender")
        self._room = threading.BoundedSemaphore(workers * 4)
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    def send(self, generated: GeneratedRecord) -> None:
        self._room.acquire()
        future = self._pool.submit(self._post, generated.record)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        self._stats.count(generated)

    def flush(self, timeout_s: float) -> None:
        with self._lock:
            pending = set(self._pending)
        _done, not_done = wait(pending, timeout=timeout_s)
        self._stats.unacknowledged = len(not_done)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _post(self, record: dict[str, object]) -> None:
        project_id = record["project_id"]
        assert isinstance(project_id, int)
        payload = record["payload"]
        assert isinstance(payload, bytes)
        key = self._keys.get(project_id)
        try:
            if key is None:
                raise LookupError(f"no public key for project {project_id} in edge.projects")
            response = self._retrying(
                self._client.post,
                f"/api/{project_id}/store/",
                content=payload,
                headers={
                    "X-Sentry-Auth": f"Sentry sentry_key={key}",
                    "Content-Type": "application/json",
                },
            )
            ok = response.status_code < 500 and not _pushed_back(response)
            error = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
        except (httpx.HTTPError, LookupError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            if error is None:
                self._stats.acknowledged += 1
                return
            self._stats.failed += 1
            if self._stats.first_error is None:
                self._stats.first_error = error
                log.warning("generate.edge_refused", error=error)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._room.release()
