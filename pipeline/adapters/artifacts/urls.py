"""The names an artifact may have been uploaded under for the URL a frame points at.

``~/`` stands for "any scheme and host": ``https://example.com/static/app.min.js?v=3`` matches
uploads named exactly that, the URL without its query, ``~/static/app.min.js?v=3`` and
``~/static/app.min.js``, tried in that order.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, uses_relative


def url_candidates(url: str) -> list[str]:
    parts = urlsplit(url)
    without_query = url.split("#", 1)[0].split("?", 1)[0]
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    candidates = [url, without_query]
    if parts.path.startswith("/"):
        candidates += [f"~{path_query}", f"~{parts.path}"]
    return list(dict.fromkeys(c for c in candidates if c))


def join_url(base: str, reference: str) -> str:
    """``urljoin`` that also resolves under schemes urllib does not know, such as ``app:///``
    (React Native, Electron) where urljoin would return the reference unresolved."""
    scheme = urlsplit(base).scheme
    if urlsplit(reference).scheme or scheme in uses_relative or not scheme:
        return urljoin(base, reference)
    stand_in = "http" + base[len(scheme) :]
    return scheme + urljoin(stand_in, reference)[len("http") :]
