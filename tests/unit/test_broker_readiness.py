"""Readiness: address parsing and the deadline loop's three outcomes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pipeline.adapters.kafka.broker.readiness import first_address, tcp_open, wait_ready


def test_first_address_of_a_bootstrap_list() -> None:
    assert first_address("a.example:9092,b.example:9093") == ("a.example", 9092)
    assert first_address(" [::1]:9092") == ("::1", 9092)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_open(closed_port: int) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert tcp_open(f"127.0.0.1:{listening.getsockname()[1]}", 1.0)
    assert not tcp_open(f"127.0.0.1:{closed_port}", 1.0)


def test_exited_process_is_reported_at_once(closed_port: int) -> None:
    outcome = wait_ready(f"127.0.0.1:{closed_port}", "id", timeout_s=60, alive=lambda: False)

    assert outcome == "exited"


def test_silent_broker_times_out_on_the_injected_clock(closed_port: int) -> None:
    ticks: Iterator[float] = iter([0.0, 0.0, 5.0, 11.0])

    outcome = wait_ready(
        f"127.0.0.1:{closed_port}",
        "id",
        timeout_s=10,
        alive=lambda: True,
        clock=lambda: next(ticks),
        poll_s=0.001,
    )

    assert outcome == "timeout"
