"""Lazy re-exports: a package names its TFX component without importing TFX.

Importing TFX costs about 8 s, so `from frontier.components.kip import distill`
must not pay it; the component classes are imported on first attribute access
(PEP 562 module `__getattr__`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`.

    Args:
      package: the package's `__name__`, for the error message.
      exports: public name -> the module that defines it (imported on first use).

    Returns:
      A function to assign to the package's `__getattr__`; it raises
      `AttributeError` for any other name, as Python would.
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
