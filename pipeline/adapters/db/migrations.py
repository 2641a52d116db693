"""Schema migrations: numbered SQL files per dialect in ``sql/<dialect>/NNNN_name.sql``.

Each database applies, in one transaction, the files whose number it has not recorded yet, so
opening a store is idempotent and a newer release only adds files.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(dialect: Dialect) -> list[Migration]:
    folder = resources.files(__package__) / "sql" / dialect
    migrations = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.removesuffix(".sql").partition("_")
        migrations.append(Migration(int(number), rest, entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    return migrations


def pending(dialect: Dialect, applied: Collection[int]) -> list[Migration]:
    return [m for m in load_migrations(dialect) if m.version not in applied]
