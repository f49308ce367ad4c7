"""Code versions for cache keys (DESIGN.md rule 7).

TFX's cache key covers the executor's class path, input artifact ids and
execution properties, but not the executor's code: editing an executor would
silently return old outputs. Every frontier component therefore carries a
`component_version` execution property: a hash of the source files of its
own package and of the shared helpers it runs (`frontier.components.common`,
`frontier.schemas`).
"""

from __future__ import annotations

import functools
import hashlib
import pathlib

COMPONENT_VERSION_KEY = "component_version"

_PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]  # components/
_SHARED = (_PACKAGE_ROOT / "common", _PACKAGE_ROOT.parent / "schemas")


@functools.cache
def code_version(component_package: str) -> str:
    """Hash of the `.py` files of `components/<component_package>/` and the
    shared helpers, as 16 hex characters."""
    folder = _PACKAGE_ROOT / component_package
    if not folder.is_dir():
        raise ValueError(f"code_version: no component package {folder}")
    h = hashlib.sha256()
    for root in (folder, *_SHARED):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(_PACKAGE_ROOT.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]
