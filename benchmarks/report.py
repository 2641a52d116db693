"""The figures table and one PASS/FAIL line per target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from benchmarks.progress import Latency


@dataclass(frozen=True)
class Figure:
    case: str
    run: str
    rate: float | None = None
    """Messages/s while busy (see Progress.steady_rate)."""
    elapsed_s: float | None = None
    """Start to the last output."""
    cut_off: bool = False
    """The run hit its deadline before every output was there."""
    latency: Latency | None = None
    note: str = ""


@dataclass(frozen=True)
class Target:
    case: str
    what: str
    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        return (self.low is None or self.value >= self.low) and (
            self.high is None or self.value <= self.high
        )

    def line(self) -> str:
        bounds = " and ".join(
            part
            for part in (
                f">= {self.low:.2f}" if self.low is not None else "",
                f"<= {self.high:.2f}" if self.high is not None else "",
            )
            if part
        )
        shown = "n/a" if self.value is None else f"{self.value:.2f}"
        if not bounds:
            return f"INFO ({self.case}) {self.what} = {shown} (no target)"
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} ({self.case}) {self.what} = {shown} (target {bounds})"


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def print_report(
    console: Console,
    figures: Sequence[Figure],
    targets: Sequence[Target],
    title: str = "stage runtime benchmarks",
) -> None:
    table = Table(title=title)
    for column in ("case", "run", "msg/s", "end to end s", "p50 ms", "p99 ms", "notes"):
        table.add_column(column, justify="right" if column.endswith(("/s", " s", "ms")) else "left")
    for fig in figures:
        table.add_row(
            fig.case,
            fig.run,
            "" if fig.rate is None else f"{fig.rate:,.0f}",
            _elapsed(fig),
            "" if fig.latency is None else f"{fig.latency.p50_ms:.1f}",
            "" if fig.latency is None else f"{fig.latency.p99_ms:.1f}",
            fig.note,
        )
    console.print(table)
    print_targets(console, targets)


def print_targets(console: Console, targets: Sequence[Target]) -> None:
    for target in targets:
        style = "green" if target.passed else "bold red"
        console.print(target.line(), style=style, highlight=False)


def _elapsed(fig: Figure) -> str:
    if fig.cut_off:
        return "cut off"
    return "" if fig.elapsed_s is None else f"{fig.elapsed_s:.1f}"
