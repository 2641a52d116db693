"""Which JavaScript frame paths belong to the runtime rather than to a bundle.

Shared by normalize (such frames are not in the app) and symbolicate (they have no source map),
so the two stages agree on one list.
"""

from __future__ import annotations

_RUNTIME_PREFIXES = ("node:", "internal/", "<", "[native", "native ", "evalmachine.")
"""Where runtimes put code no bundler made: Node's own modules, native and eval frames."""
_RUNTIME_NAMES = frozenset({"native", "[native code]", "<anonymous>", "<unknown>"})


def has_no_source_map(abs_path: str) -> bool:
    """A frame of the runtime itself: looking up a map for it could only fail (and record an
    error and fill the negative cache for every event)."""
    return abs_path in _RUNTIME_NAMES or abs_path.startswith(_RUNTIME_PREFIXES)
