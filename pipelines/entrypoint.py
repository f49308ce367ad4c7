"""The container command of compiled frontier pipelines.

    python -m frontier.pipelines.entrypoint --executor_class_path ... --json_serialized_invocation_args ...

It is TFX's Kubeflow V2 container entrypoint (`kubeflow_v2_run_executor`,
the default command `KubeflowV2DagRunner` compiles in), with one thing done
first: frontier's artifact classes (`HtmlReport`, `SplLabelMap`,
`PrivacyLedger`) are made importable under their type names.

Why: the entrypoint rebuilds each input and output artifact's Python class
by importing the type's schema title as a class path, and TFX's compiler only
accepts titles of the form `<namespace>.<Name>`, so `frontier.HtmlReport`
must be an attribute of the `frontier` module. `frontier` is a namespace
package (setup.py maps the top-level folders into it) and has no
`__init__.py` to define it there; setting the attributes on the module
before TFX looks them up does the same, without renaming the types that
ML Metadata already records.
"""

from __future__ import annotations

import sys


def register_artifact_types() -> list[str]:
    """Sets `frontier.<Name>` for each artifact class of `frontier.schemas.artifacts`.

    Returns:
      The type names made importable.
    """
    from tfx.types import artifact

    import frontier
    from frontier.schemas import artifacts

    names = []
    for value in vars(artifacts).values():
        if isinstance(value, type) and issubclass(value, artifact.Artifact):
            if value is artifact.Artifact:
                continue
            namespace, _, name = value.TYPE_NAME.partition(".")
            if namespace != frontier.__name__ or not name:
                raise ValueError(
                    f"{value.__name__}.TYPE_NAME {value.TYPE_NAME!r}: expected frontier.<Name>"
                )
            setattr(frontier, name, value)
            names.append(value.TYPE_NAME)
    return names


def run(argv: list[str]) -> None:
    """Runs one step as TFX's entrypoint does (`argv` without the program name)."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    register_artifact_types()
    tfx_entry.main(tfx_entry._parse_flags(["kubeflow_v2_run_executor", *argv]))


def main() -> None:
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    register_artifact_types()
    app.run(tfx_entry.main, flags_parser=tfx_entry._parse_flags)


if __name__ == "__main__":
    sys.exit(main())
