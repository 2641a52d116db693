"""The edge in `pipeline dev`: a `pipeline run edge` subprocess on a known port, accepting the
dev key for every dev project unless the settings name projects, so a DSN can be pasted once."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pipeline.edge.settings import DEV_PUBLIC_KEY, EdgeSettings


def edge_env(edge: EdgeSettings, projects: int) -> dict[str, str]:
    """Environment for the edge subprocess: the dev projects 1..``projects`` when none are set."""
    if edge.projects:
        return {}
    keys = {str(project): [DEV_PUBLIC_KEY] for project in range(1, projects + 1)}
    return {"PIPELINE_EDGE__PROJECTS": json.dumps(keys)}


def dsn(edge: EdgeSettings, project_id: int = 1) -> str:
    """The DSN an SDK uses to send to this edge's ``project_id``."""
    projects: Mapping[int, list[str]] = edge.projects or {project_id: [DEV_PUBLIC_KEY]}
    project = project_id if project_id in projects else min(projects)
    host = "127.0.0.1" if edge.host in ("0.0.0.0", "::") else edge.host
    return f"http://{projects[project][0]}@{host}:{edge.port}/{project}"
