"""The names an artifact may have been uploaded under for the URL a frame points at.

``~/`` stands for "any scheme and host": ``https://example.com/static/app.min.js?v=3`` matches
uploads named exactly that, the URL without its query, ``~/static/app.min.js?v=3`` and
``~/static/app.min.js``, tried in that order.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def url_candidates(url: str) -> list[str]:
    parts = urlsplit(url)
    without_query = url.split("#", 1)[0].split("?", 1)[0]
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    candidates = [url, without_query]
    if parts.path.startswith("/"):
        candidates += [f"~{path_query}", f"~{parts.path}"]
    return list(dict.fromkeys(c for c in candidates if c))
