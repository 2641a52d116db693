from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    retry_after_s: int  # 0 when allowed
    rate_limits_header: str | None  # X-Sentry-Rate-Limits value when refused
    reason: str | None  # outcome reason when refused, e.g. "project_quota"/"key_quota"


class Quota(Protocol):
    async def check(
        self, project_id: int, public_key: str, category: str, quantity: int
    ) -> QuotaDecision: ...
