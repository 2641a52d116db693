"""Source-map debug images (``debug_meta.images`` of type sourcemap) for symbolicate to look up.

Other images and keys of ``debug_meta`` stay in extra_json.
"""

from __future__ import annotations

from typing import Any

from pipeline.stages.normalize.results import ErrorLog
from pipeline.stages.normalize.trim import trim


def sourcemap_images(
    debug_meta: Any, limit: int, errors: ErrorLog
) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """The sourcemap images, and what is left of ``debug_meta`` (None when nothing)."""
    if debug_meta is None:
        return [], None
    if not isinstance(debug_meta, dict):
        errors.bad_type("debug_meta", debug_meta)
        return [], None
    images = debug_meta.get("images")
    if images is None:
        return [], debug_meta or None
    if not isinstance(images, list):
        errors.bad_type("debug_meta.images", images)
        del debug_meta["images"]
        return [], debug_meta or None
    found: list[dict[str, str]] = []
    others = []
    for i, image in enumerate(images):
        if not isinstance(image, dict) or image.get("type") != "sourcemap":
            others.append(image)
            continue
        code_file, debug_id = image.get("code_file"), image.get("debug_id")
        if isinstance(code_file, str) and code_file and isinstance(debug_id, str) and debug_id:
            found.append(
                {"code_file": trim(code_file, limit), "debug_id": debug_id.strip().lower()}
            )
        else:
            errors.add("invalid_debug_image", f"debug_meta.images[{i}]: needs code_file, debug_id")
    if others:
        debug_meta["images"] = others
    else:
        del debug_meta["images"]
    return found, debug_meta or None
