"""Packaging: the top-level folders map into the `frontier` namespace, and the
public components resolve from `frontier.components`."""

import pathlib

import frontier.components
import frontier.pipelines
import frontier.schemas

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_top_level_folders_are_the_frontier_subpackages():
    for module, folder in [
        (frontier.components, "components"),
        (frontier.pipelines, "pipelines"),
        (frontier.schemas, "schemas"),
    ]:
        assert pathlib.Path(module.__file__).parent == REPO / folder


def test_public_components_resolve():
    for name in frontier.components.__all__:
        assert callable(getattr(frontier.components, name)), name
