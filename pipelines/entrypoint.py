"""The container command of compiled frontier pipelines.

    python -m frontier.pipelines.entrypoint [--kfp_launcher_paths]
        --executor_class_path ... --json_serialized_invocation_args ...

It is TFX's Kubeflow V2 container entrypoint (`kubeflow_v2_run_executor`,
the default command `KubeflowV2DagRunner` compiles in), with two additions.

Frontier's artifact classes (`HtmlReport`, `SplLabelMap`, `PrivacyLedger`)
are made importable under their type names first. Why: the entrypoint
rebuilds each input and output artifact's Python class by importing the
type's schema title as a class path, and TFX's compiler only accepts titles
of the form `<namespace>.<Name>`, so `frontier.HtmlReport` must be an
attribute of the `frontier` module. `frontier` is a namespace package
(setup.py maps the top-level folders into it) and has no `__init__.py` to
define it there; setting the attributes on the module before TFX looks them
up does the same, without renaming the types that ML Metadata already
records.

With `--kfp_launcher_paths` (what `frontier compile --target kubeflow`
puts in the command), the step reads and writes its artifacts at the local
paths of open-source KFP's v2 launcher instead of their remote URIs. That
launcher downloads each input artifact to, and uploads each output artifact
from, a local path named after its URI (`gs://B/P` -> `/gcs/B/P`,
`minio://B/P` -> `/minio/B/P`, `s3://B/P` -> `/s3/B/P`, under
`$ARTIFACT_LOCAL_PATH` where that is set, as the launcher does), and TFX's
file layer cannot write `minio://` at all (nor `s3://` without
tensorflow-io). The URIs are rewritten to those paths in the `ExecutorInput`
before TFX reads it, and back in the executor output TFX writes, because the
launcher takes each output's URI from that file. Vertex AI needs none of
this: TFX writes `gs://` directly there.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

KFP_LAUNCHER_PATHS = "--kfp_launcher_paths"
INVOCATION_FLAG = "--json_serialized_invocation_args"
# KFP's v2 launcher (`LocalPathForURI`): remote scheme -> local directory.
_LAUNCHER_MOUNTS = {"gs://": "/gcs/", "minio://": "/minio/", "s3://": "/s3/"}


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


def _mounts() -> dict[str, str]:
    """{remote scheme: local prefix}, under `$ARTIFACT_LOCAL_PATH` as the launcher reads it."""
    base = os.environ.get("ARTIFACT_LOCAL_PATH", "")
    return {scheme: base + mount for scheme, mount in _LAUNCHER_MOUNTS.items()}


def launcher_path(uri: str) -> str:
    """The local path KFP's v2 launcher keeps `uri` at (`uri` itself for other schemes)."""
    for scheme, local in _mounts().items():
        if uri.startswith(scheme):
            return local + uri[len(scheme) :]
    return uri


def launcher_uri(path: str) -> str:
    """The inverse of `launcher_path`."""
    for scheme, local in _mounts().items():
        if path.startswith(local):
            return scheme + path[len(local) :]
    return path


def _map_uris(artifacts: dict[str, Any], fn: Callable[[str], str]) -> None:
    """Applies `fn` to each artifact URI of an {name: {"artifacts": [...]}} map, in place."""
    for listing in artifacts.values():
        for artifact in listing.get("artifacts", []):
            if artifact.get("uri"):
                artifact["uri"] = fn(artifact["uri"])


def _output_file(invocation: dict[str, Any]) -> str:
    outputs = invocation.get("outputs", {})
    return outputs.get("outputFile") or outputs.get("output_file", "")


def to_launcher_paths(argv: list[str]) -> tuple[list[str], str | None]:
    """Strips `--kfp_launcher_paths` from `argv` and localises the ExecutorInput's URIs.

    Returns:
      (the arguments for TFX's entrypoint, the executor output file to map
      back after the step; None when `argv` does not ask for launcher paths).
    """
    if KFP_LAUNCHER_PATHS not in argv:
        return argv, None
    argv = [a for a in argv if a != KFP_LAUNCHER_PATHS]
    out, output_file = [], None
    for i, arg in enumerate(argv):
        prefix = INVOCATION_FLAG + "="
        if arg.startswith(prefix):
            text = arg[len(prefix) :]
        elif i > 0 and argv[i - 1] == INVOCATION_FLAG:
            prefix, text = "", arg
        else:
            out.append(arg)
            continue
        invocation = json.loads(text)
        for section in ("inputs", "outputs"):
            _map_uris(invocation.get(section, {}).get("artifacts", {}), launcher_path)
        output_file = _output_file(invocation)
        out.append(prefix + json.dumps(invocation))
    if output_file is None:
        raise ValueError(f"{KFP_LAUNCHER_PATHS}: the step was given no {INVOCATION_FLAG}")
    return out, output_file


def to_remote_uris(output_file: str) -> None:
    """Rewrites the artifact URIs of the executor output TFX wrote back to remote URIs."""
    if not os.path.exists(output_file):
        return
    with open(output_file) as f:
        output = json.load(f)
    _map_uris(output.get("artifacts", {}), launcher_uri)
    with open(output_file, "w") as f:
        json.dump(output, f)


def _step(argv: list[str]) -> tuple[Callable[[Any], None], Callable[[list[str]], Any]]:
    """(main, flags_parser) for `absl.app.run`: TFX's, around the launcher-path mapping."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    register_artifact_types()
    args, output_file = to_launcher_paths(argv[1:])

    def step(parsed: Any) -> None:
        tfx_entry.main(parsed)
        if output_file is not None:
            to_remote_uris(output_file)

    return step, lambda _: tfx_entry._parse_flags([argv[0], *args])


def run(argv: list[str]) -> None:
    """Runs one step as the container command does (`argv` without the program name)."""
    step, parse = _step(["kubeflow_v2_run_executor", *argv])
    step(parse(None))


def main() -> None:
    from absl import app

    step, parse = _step(sys.argv)
    app.run(step, flags_parser=parse)


if __name__ == "__main__":
    sys.exit(main())
