"""Code versions for cache keys (ARCHITECTURE.md rule 7).

TFX's cache key covers the executor's class path, input artifact ids and
execution properties, but not the executor's code: editing an executor would
silently return old outputs. Every frontier component therefore carries a
`component_version` execution property: a hash of the source files of its
own package, of any other component package whose code it runs (named by the
caller), and of the shared helpers (`frontier.components.common`,
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
def code_version(component_package: str, *depends_on: str) -> str:
    """Hash of the `.py` files of `components/<component_package>/`, of the
    packages in `depends_on` (other component packages whose code the
    executor runs) and of the shared helpers, as 16 hex characters."""
    folders = [_PACKAGE_ROOT / p for p in (component_package, *sorted(set(depends_on)))]
    for folder in folders:
        if not folder.is_dir():
            raise ValueError(f"code_version: no component package {folder}")
    h = hashlib.sha256()
    for root in (*folders, *_SHARED):
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(_PACKAGE_ROOT.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]
