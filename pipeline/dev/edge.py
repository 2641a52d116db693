"""The edge in `pipeline dev`: a `pipeline run edge` subprocess on a known port, accepting the
dev key for every dev project unless the settings name projects, so a DSN can be pasted once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from pipeline.edge.settings import DEV_PUBLIC_KEY, EdgeSettings
from pipeline.errors import UserError


def edge_env(edge: EdgeSettings, projects: int) -> dict[str, str]:
    """Environment for the edge subprocess: the dev projects 1..``projects`` when none are set."""
    if edge.projects:
        return {}
    keys = {str(project): [DEV_PUBLIC_KEY] for project in range(1, projects + 1)}
    return {"PIPELINE_EDGE__PROJECTS": json.dumps(keys)}


def dev_keys(edge: EdgeSettings, projects: int) -> dict[int, str]:
    """The public key the dev generator sends each project's events with."""
    if edge.projects:
        return {project: keys[0] for project, keys in edge.projects.items() if keys}
    return dict.fromkeys(range(1, projects + 1), DEV_PUBLIC_KEY)


def edge_url(edge: EdgeSettings) -> str:
    host = "127.0.0.1" if edge.host in ("0.0.0.0", "::") else edge.host
    return f"http://{host}:{edge.port}"


def dsn(edge: EdgeSettings, project_id: int = 1) -> str:
    """The DSN an SDK uses to send to this edge's ``project_id``."""
    keys = dev_keys(edge, project_id)
    project = project_id if project_id in keys else min(keys)
    scheme, _, address = edge_url(edge).partition("://")
    return f"{scheme}://{keys[project]}@{address}/{project}"


def wait_until_live(
    url: str, alive: Callable[[], bool], timeout_s: float = 30.0, poll_s: float = 0.2
) -> None:
    """Blocks until the edge answers ``/health/live``; UserError if it died or never answered."""
    deadline = time.monotonic() + timeout_s
    while alive():
        try:
            if httpx.get(f"{url}/health/live", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(poll_s)
    raise UserError(f"the edge did not start at {url}; see its log")
