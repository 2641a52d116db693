"""HTTP load with wrk (a C load generator, so the client is not what limits the figures): POSTs of
one body, answers counted by status, latency percentiles, all reported by wrk's Lua hooks as one
JSON line."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

INSTALL_HINT = (
    "install wrk (Debian/Ubuntu: `sudo apt-get install -y wrk`; macOS: `brew install wrk`)"
)

EVENT_ID = "X" * 32
"""Replaced in the body by a fresh event_id (32 hex digits) per request, so records spread over
the partitions as SDK traffic does; as long as the id, so item lengths stay right."""

# Statuses are counted per thread and summed in done().
_SCRIPT = r"""
wrk.method = "POST"
wrk.body = nil
local body_template = [==[%(body)s]==]
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  statuses = {}
  retry_after = 0
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
local function event_id()
  return string.format("%%08x%%08x%%08x%%08x", math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end
function request()
  return wrk.format(nil, nil, nil, (body_template:gsub("%(placeholder)s", event_id())))
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if headers["retry-after"] or headers["Retry-After"] then retry_after = retry_after + 1 end
end
function done(summary, latency, requests)
  local counts = {}
  local with_retry_after = 0
  for _, thread in ipairs(threads) do
    with_retry_after = with_retry_after + thread:get("retry_after")
    for status, n in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do table.insert(parts, string.format('"%%s": %%d', status, n)) end
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, ' ..
    '"timeouts": %%d, "retry_after": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, with_retry_after, table.concat(parts, ", ")))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Connect, read and write errors and timeouts: requests that got no answer."""
    statuses: dict[int, int]
    retry_after: int
    """Answers that carried a Retry-After header."""

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    def share(self, status: int) -> float:
        return self.statuses.get(status, 0) / self.answered if self.answered else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise UserError(f"this benchmark drives HTTP load with wrk: {INSTALL_HINT}")
    return found


def write_script(path: Path, body: str, headers: Mapping[str, str]) -> Path:
    """``body`` may hold EVENT_ID, replaced per request."""
    if "]==]" in body:
        raise ValueError("the body cannot be quoted in Lua")
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path.write_text(_SCRIPT % {"body": body, "headers": lines, "placeholder": EVENT_ID})
    return path


def run_wrk(
    url: str, script: Path, *, threads: int, connections: int, duration_s: int, timeout_s: int
) -> Load:
    command = [
        wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
        f"--timeout={timeout_s}s", "-s", str(script), url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}{result.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Load(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        statuses={int(k): v for k, v in data["statuses"].items()},
        retry_after=data["retry_after"],
    )
