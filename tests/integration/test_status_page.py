"""`pipeline status` against a running pipeline, seen in a real headless Chromium: the page
shows the stages, and a cohort sent while the store is stopped shows as stuck there. And the page
`pipeline dev` serves: the terminal view's rows plus the backlog ledger from the broker."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline.adapters.kafka.codec import make_codec
from pipeline.dev.page import status_page
from pipeline.dev.status import StageRow
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.registry import resolve_stage
from tests.support.browser import wait_in_page
from tests.support.pipeline import (
    RunningStage,
    new_event_id,
    pipeline_settings,
    produce,
    raw_event,
    running,
    wait_for,
    wait_until_done,
)

pytestmark = pytest.mark.integration

STORED, WAITING = 12, 30
WIDTH_S = 2
STUCK_AFTER_S = 1.0
PAGE_TIMEOUT_S = 20.0


@contextmanager
def status_server(bootstrap: str, prefix: str, cohorts: dict[str, float]) -> Iterator[str]:
    """`pipeline status --port 0` as a deployment runs it; yields the URL it prints."""
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CONFIG"}
    env |= {"PIPELINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "PIPELINE_KAFKA__TOPIC_PREFIX": prefix}
    env |= {f"PIPELINE_COHORTS__{key.upper()}": str(value) for key, value in cohorts.items()}
    command = [sys.executable, "-m", "pipeline", "status", "--port", "0", "--interval", "0.5"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        yield _printed_url(proc, timeout_s=20.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _printed_url(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert proc.stdout is not None
    output = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and proc.poll() is None:
            if selector.select(left):
                output += os.read(proc.stdout.fileno(), 4096)
                if match := re.search(rb"http://\S+/", output):
                    return match.group().decode()
    raise AssertionError(f"`pipeline status` printed no URL in {timeout_s}s: {output.decode()}")


STAGE_TABLE_JS = """
return Array.from(document.querySelectorAll("#stages tbody tr"), (tr) => ({
  stage: tr.dataset.stage,
  healthy: tr.dataset.healthy === "true",
  cells: Array.from(tr.cells, (td) => td.textContent),
}));
"""


def stage_table(driver: WebDriver) -> dict[str, dict[str, Any]]:
    """The stages table as the page shows it now, read in one go (it is redrawn every poll)."""
    rows: list[dict[str, Any]] = driver.execute_script(STAGE_TABLE_JS)
    return {row["stage"]: row for row in rows}


COHORTS_JS = """
return Array.from(document.querySelectorAll("#waterfall g.cohort"), (g) => [
  Number(g.dataset.startMs), g.dataset.stuckAt, Number(g.dataset.size),
]);
"""


def cohort_rows(driver: WebDriver) -> dict[int, tuple[str, int]]:
    """The waterfall's rows: cohort start to (stage it is stuck at or "", events in it)."""
    rows: list[list[Any]] = driver.execute_script(COHORTS_JS)
    return {int(start): (stuck, int(size)) for start, stuck, size in rows}


def lag_column(driver: WebDriver) -> dict[str, int | None]:
    """The lag per stage as numbers (None where the page shows "-")."""
    lag = {}
    for stage, row in stage_table(driver).items():
        text = row["cells"][5].replace(",", "")
        lag[stage] = int(text) if text.isdigit() else None
    return lag


def test_page_shows_the_stages_and_a_cohort_stuck_at_the_stopped_store(
    kafka_bootstrap: str, prefix: str, tmp_path: Path, browser: WebDriver
) -> None:
    cohorts = {"width_s": WIDTH_S, "stuck_after_s": STUCK_AFTER_S, "publish_interval_s": 0.5}
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path, cohorts=cohorts)
    codec = make_codec(settings.kafka)
    raw_topic = settings.kafka.topic("events.raw")

    def send(count: int, received_at_ms: int) -> int:
        """``count`` events of one receive time; returns the start of their cohort."""
        payload = json.dumps({"message": "job failed"}).encode()
        produce(
            kafka_bootstrap,
            (
                raw_event(
                    codec,
                    raw_topic,
                    event_id=new_event_id(),
                    project_id=7,
                    payload=payload,
                    received_at_ms=received_at_ms,
                )
                for _ in range(count)
            ),
        )
        return received_at_ms // (WIDTH_S * 1000) * WIDTH_S * 1000

    specs = [resolve_stage(name, settings) for name in ("normalize", "symbolicate", "store")]
    normalize, symbolicate, store_spec = specs
    with running((normalize, settings), (symbolicate, settings)):
        store = RunningStage(store_spec, settings)
        store.start()
        try:
            passed = send(STORED, wall_ms() - 20_000)
            for spec in specs:  # in pipeline order: each input is complete once the one before is
                wait_until_done(kafka_bootstrap, spec)
        finally:
            assert store.stop() == 0
        # The store is stopped on purpose: this cohort gets through symbolicate, then waits.
        delayed = send(WAITING, wall_ms())
        for spec in (normalize, symbolicate):
            wait_until_done(kafka_bootstrap, spec)
        with status_server(kafka_bootstrap, prefix, cohorts) as url:
            browser.get(url)
            wait_in_page(
                browser,
                lambda d: set(stage_table(d)) == {"normalize", "symbolicate", "store"},
                "a row per stage",
                PAGE_TIMEOUT_S,
            )
            expected = {passed: ("", STORED), delayed: ("store", WAITING)}
            wait_in_page(
                browser,
                lambda d: {k: v for k, v in cohort_rows(d).items() if k in expected} == expected,
                f"the delayed cohort stuck at the store ({WAITING} events), the earlier one not",
                PAGE_TIMEOUT_S,
            )
            wait_in_page(
                browser,
                lambda d: lag_column(d) == {"normalize": 0, "symbolicate": 0, "store": WAITING},
                f"the {WAITING} events waiting for the store as its lag",
                PAGE_TIMEOUT_S,
            )
            wait_in_page(
                browser,
                lambda d: not stage_table(d)["store"]["healthy"],
                "the store as not committing",
                PAGE_TIMEOUT_S,
            )
            oldest = stage_table(browser)["store"]["cells"][8]
            assert oldest != "-", "the store's oldest unprocessed event has an age"
            assert browser.find_element(By.ID, "connection").get_attribute("data-state") == "ok"


def test_dev_page_serves_the_terminal_rows_and_the_ledger(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path)
    rows = [StageRow("normalize", "running", True, consumed_per_s=12.5, pauses={"window_full": 2})]
    documents: list[dict[str, Any]] = []

    def read(url: str) -> bool:
        documents.append(httpx.get(f"{url}api/status", timeout=5).json())
        return documents[-1]["backlog"] is not None

    with status_page(settings, kafka_bootstrap, lambda: rows, port=0) as url:
        wait_for(lambda: read(url), "the ledger read from the broker", interval_s=0.3)
    document = documents[-1]
    assert document["errors"] == {}
    assert document["backlog"] == []
    assert document["stages"] == [
        {
            **dict.fromkeys(["in_flight", "paused", "lag", "p50_s", "p99_s"]),
            "name": "normalize",
            "state": "running",
            "healthy": True,
            "consumed_per_s": 12.5,
            "pauses": {"window_full": 2},
        }
    ]
