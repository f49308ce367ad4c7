"""The public API: every `__all__` resolves, and packages use each other only through it.

Each component package's `__init__` lists in `__all__` what users call; the
rest of the package is private to it. Another package may import a
component package's public names (from the package or from the module that
defines them) or its `spec` module (the names shared by component, executor
and tests), nothing else. `frontier.components.common` is the shared layer
every package may use.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil

import pytest

import frontier.components
import frontier.pipelines
import frontier.schemas

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = "common"  # frontier.components.common: the shared layer
SPEC = "spec"


def _modules() -> list[str]:
    names = []
    for package in (frontier.components, frontier.pipelines, frontier.schemas):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            names.append(info.name)
    return sorted(names)


def _packages_with_all() -> list[str]:
    return [name for name in _modules() if hasattr(importlib.import_module(name), "__all__")]


@pytest.mark.parametrize("module_name", _packages_with_all())
def test_every_name_in_all_resolves(module_name):
    module = importlib.import_module(module_name)
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{module_name}.{name}"


def _cross_package_imports() -> list[tuple[str, str, str, int]]:
    """(target package, imported name, importing file, line) for every import of a
    component package's name by code outside that package."""
    found = []
    files = [*(REPO / "components").rglob("*.py"), *(REPO / "pipelines").rglob("*.py")]
    for path in files:
        rel = path.relative_to(REPO)
        own = rel.parts[1] if rel.parts[0] == "components" and len(rel.parts) > 2 else None
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            parts = node.module.split(".")
            if parts[:2] != ["frontier", "components"] or len(parts) < 3:
                continue
            package, module = parts[2], parts[3] if len(parts) > 3 else None
            if package in (own, SHARED) or module == SPEC:
                continue
            for alias in node.names:
                found.append((package, alias.name, str(rel), node.lineno))
    return found


def test_packages_import_each_other_only_through_the_public_api():
    private = []
    for package, name, file, line in _cross_package_imports():
        target = importlib.import_module(f"frontier.components.{package}")
        is_submodule = (REPO / "components" / package / f"{name}.py").is_file()
        if name not in target.__all__ and not (is_submodule and name == SPEC):
            private.append(f"{file}:{line} imports {name!r} from {package}")
    assert not private, "\n".join(private)


def test_the_scan_sees_cross_package_imports():
    # The Trainer's serving contract is what other model-producing components reuse.
    imports = {(package, name) for package, name, _, _ in _cross_package_imports()}
    assert ("trainer", "save_model_artifact") in imports


def test_the_plain_algorithms_import_without_tensorflow_or_tfx():
    """A researcher's `from frontier.components.dp_ftrl import ...` (or kip, spl, ciw,
    trainer) must not pay TensorFlow's and TFX's seconds of import: the components and
    exports are imported lazily."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import frontier.components.dp_ftrl, frontier.components.kip, frontier.components.spl\n"
        "import frontier.components.ciw, frontier.components.trainer\n"
        "print(sorted(m for m in ('tensorflow', 'tfx', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
