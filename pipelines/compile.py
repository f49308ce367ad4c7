"""`frontier compile`: a shipped pipeline as a Vertex AI / Kubeflow pipeline spec.

The pipeline is the one `frontier run` runs (`create_pipeline(root)`), built
under a remote root, then compiled by TFX's `KubeflowV2DagRunner` with
pipeline spec schema 2.1 (the schema the open-source KFP v2 backend reads;
Vertex AI reads it too). On top of what TFX writes, compiling here:

- gives every runtime parameter (`frontier.pipelines.parameters`) its
  default, description and `isOptional` in `root.inputDefinitions` (TFX
  leaves defaults out, and a YAML spec has no `runtimeConfig` to carry them),
  so a run needs `--param` only for what it changes;
- sets each component's vCPU / memory / accelerator from the pipeline's
  `RESOURCES` table (`frontier.pipelines.resources`), and runs components
  with an accelerator in `gpu_image` when one is given;
- with a Beam profile (`infra/dataflow.yaml`), gives the Beam components
  (Ingest, SplLabeler, StatisticsGen, ExampleValidator, Evaluator) its
  Dataflow pipeline options; without one, Beam runs in each component's own
  container (DirectRunner);
- sets `defaultPipelineRoot` to `<root>/pipelines/<name>` (the layout of a
  local run root);
- runs each step with `python -m frontier.pipelines.entrypoint`, TFX's
  container entrypoint made able to rebuild frontier's own artifact types,
  and for kubeflow with `--kfp_launcher_paths`, which has the step read and
  write its artifacts where open-source KFP's launcher downloads and
  uploads them (see that module).

The output's extension picks its form: `.json` is a Vertex `PipelineJob`
(`pipelineSpec` plus `runtimeConfig`, what TFX writes), `.yaml`/`.yml` the
`PipelineSpec` alone (what kfp's own compiler writes; the only form
`kfp.Client` reads). The file is written whole or not at all.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import tempfile
from typing import Any

from frontier.pipelines import parameters, resources
from frontier.pipelines.entrypoint import KFP_LAUNCHER_PATHS
from frontier.pipelines.resources import KUBEFLOW, TARGETS, VERTEX

JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")
# Docker's reference grammar, kept to what a registry path needs: a registry
# host (with a dot or a port, or localhost), a path, then a tag or a digest.
_IMAGE = re.compile(
    r"(?P<host>[a-zA-Z0-9.-]+(?::[0-9]+)?)/(?P<path>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))$"
)
IMAGE_EXAMPLE = "us-central1-docker.pkg.dev/PROJECT/REPO/frontier:0.1.0"
# Every step's container command: TFX's entrypoint behind frontier's artifact types;
# on open-source KFP it also maps artifact URIs to the launcher's local paths.
COMMAND = ["python", "-m", "frontier.pipelines.entrypoint"]
COMMANDS = {VERTEX: COMMAND, KUBEFLOW: [*COMMAND, KFP_LAUNCHER_PATHS]}
PLACEHOLDERS = ("project", "region", "root", "image")


def check_image(image: str, flag: str = "--image") -> str:
    """Returns `image` if it is a full registry path with a tag or digest.

    Raises:
      ValueError: naming `flag`, the image, and what was expected.
    """
    m = _IMAGE.fullmatch(image or "")
    host = m.group("host") if m else ""
    if not m or not ("." in host or ":" in host or host == "localhost"):
        raise ValueError(
            f"{flag} {image!r} is not a full registry path: expected REGISTRY/PATH:TAG or"
            f" REGISTRY/PATH@sha256:DIGEST, e.g. {IMAGE_EXAMPLE} (the workers pull the image"
            " from a registry; a local tag exists only on this machine)"
        )
    return image


def check_root(root: str, target: str) -> str:
    """Returns `root` (without a trailing /) if `target` can write under it.

    Vertex AI needs `gs://`; Kubeflow any object-store URI its launcher
    reads (`gs://`, `s3://`, `minio://`). A local path is refused for both:
    the components run in containers that cannot see this machine's disk.
    """
    schemes = ("gs://",) if target == VERTEX else ("gs://", "s3://", "minio://")
    bucket = root.split("://", 1)[-1].strip("/") if root else ""
    if not root or not root.startswith(schemes) or not bucket:
        wanted = " / ".join(f"{scheme}BUCKET" for scheme in schemes)
        raise ValueError(
            f"--root {root!r}: a {target} pipeline needs a {wanted} root (artifacts"
            " are written there by containers that cannot see this machine's disk); for a"
            " local run use `frontier run`"
        )
    return root.rstrip("/")


def check_output(output: str, target: str) -> str:
    """Returns "json" or "yaml", the form `output`'s extension asks for."""
    lower = output.lower()
    if lower.endswith(YAML_SUFFIXES):
        return "yaml"
    if lower.endswith(JSON_SUFFIXES):
        if target == KUBEFLOW:
            raise ValueError(
                f"--output {output}: kfp.Client reads only .yaml/.yml pipeline specs; use"
                " a .yaml output for --target kubeflow"
            )
        return "json"
    raise ValueError(f"--output {output}: expected a .json or .yaml/.yml file")


def beam_args(profile: str, values: dict[str, str | None]) -> list[str]:
    """The Beam pipeline options of a YAML profile, placeholders filled.

    Args:
      profile: path of a YAML mapping {option: value or list of values};
        values may hold `{project}`, `{region}`, `{root}`, `{image}`.
      values: the placeholders' values (None: not given).

    Returns:
      `["--option=value", ...]`, a list value giving the option once per item.

    Raises:
      ValueError: an unreadable profile, an unknown placeholder, or one whose
        value was not given (naming the flag that gives it).
    """
    import yaml

    try:
        with open(profile) as f:
            options = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"--beam-profile {profile}: cannot be read ({e})") from None
    if not isinstance(options, dict):
        raise ValueError(f"--beam-profile {profile}: expected a mapping of Beam options")

    def fill(key: str, text: Any) -> str:
        text = str(text)
        for name in re.findall(r"\{(\w*)\}", text):
            if name not in PLACEHOLDERS:
                raise ValueError(
                    f"--beam-profile {profile}: option {key}: unknown placeholder {{{name}}};"
                    f" expected one of {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                )
            if not values.get(name):
                raise ValueError(
                    f"--beam-profile {profile}: option {key} needs --{name}, which was not given"
                )
            text = text.replace("{" + name + "}", values[name])
        return text

    args = []
    for key, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            args.append(f"--{key}={fill(key, item)}")
    return args


def _is_beam(component) -> bool:
    from tfx.dsl.components.base import executor_spec

    return isinstance(component.executor_spec, executor_spec.BeamExecutorSpec)


def _add_defaults(spec: dict[str, Any], declared: dict[str, Any]) -> None:
    """Writes each runtime parameter's default and description into the spec."""
    inputs = spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    for name, param in declared.items():
        entry = inputs[name]
        entry["defaultValue"] = param.default
        entry["isOptional"] = True
        if param.description:
            entry["description"] = param.description


def _json_text(document: dict[str, Any]) -> str:
    """`document` as JSON whose every float has a '.' (1.0e-06, not 1e-06).

    aiplatform reads a JSON template with `yaml.safe_load`, and YAML 1.1 takes
    a number without a '.' (what `json.dumps` writes for 1e-06) for a string.
    """
    marks: dict[str, str] = {}

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, float) and math.isfinite(value) and "." not in repr(value):
            mantissa, _, exponent = repr(value).partition("e")
            key = f"@frontier-float-{len(marks)}@"
            marks[key] = f"{mantissa}.0e{exponent}"
            return key
        return value

    text = json.dumps(mark(document), indent=2, sort_keys=True)
    for key, number in marks.items():
        text = text.replace(json.dumps(key), number)
    return text


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".frontier-compile-")
    except OSError as e:
        raise ValueError(f"--output {path!r}: cannot write there ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def compile_pipeline(
    name: str,
    target: str,
    image: str,
    output: str,
    root: str,
    *,
    gpu_image: str | None = None,
    beam_profile: str | None = None,
    project: str | None = None,
    region: str | None = None,
    config: Any = None,
) -> dict[str, Any]:
    """Compiles the shipped pipeline `name` for `target` into `output`.

    Args:
      name: a key of `frontier.pipelines.cli.PIPELINES` (demo, kip, ciw, spl, dp_ftrl).
      target: "vertex" or "kubeflow".
      image: the component image, a full registry path with tag or digest.
      output: the file to write (`.json`: PipelineJob, vertex only; `.yaml`: PipelineSpec).
      root: the remote run root; artifacts go to `<root>/pipelines/<pipeline name>`.
      gpu_image: image for components with an accelerator (default: `image`).
      beam_profile: YAML of Dataflow options for the Beam components (None: DirectRunner).
      project, region: fill the profile's `{project}` / `{region}`.
      config: the pipeline's config object (default: the module's `config_for(target)`
        where it has one, else its default config).

    Returns:
      The written document: the PipelineJob dict (`.json`) or the PipelineSpec dict (`.yaml`).

    Raises:
      ValueError: an unknown pipeline or target, a bad image, root, output,
        accelerator or profile, or project / region without a profile (the
        message names the flag).
    """
    from frontier.pipelines.cli import PIPELINES

    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; expected one of {sorted(PIPELINES)}")
    if target not in TARGETS:
        raise ValueError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    check_image(image)
    if gpu_image is not None:
        check_image(gpu_image, "--gpu-image")
    root = check_root(root, target)
    form = check_output(output, target)
    if not beam_profile and (project or region):
        flag = "--project" if project else "--region"
        raise ValueError(
            f"{flag}: it only fills the Beam profile's {{{flag[2:]}}}; give --beam-profile"
            " (e.g. infra/dataflow.yaml) or leave it out (the Vertex project and region are"
            " `frontier submit` flags)"
        )
    extra_args = (
        beam_args(
            beam_profile, {"project": project, "region": region, "root": root, "image": image}
        )
        if beam_profile
        else []
    )

    definition = importlib.import_module(PIPELINES[name])
    if config is None and hasattr(definition, "config_for"):
        config = definition.config_for(target)
    pipeline = (
        definition.create_pipeline(root)
        if config is None
        else definition.create_pipeline(root, config)
    )
    if target == KUBEFLOW:
        _check_kubeflow(pipeline)
    placed = resources.apply(pipeline.components, definition.RESOURCES, target)
    for component in pipeline.components:
        if extra_args and _is_beam(component):
            component.with_beam_pipeline_args(extra_args)
    images: str | dict[str, str] = image
    if gpu_image is not None:
        images = {"default_image_path": image}
        images.update({node: gpu_image for node, r in placed.items() if r.accelerator})
    declared = parameters.declared(pipeline.components)
    defaults = {n: p.default for n, p in declared.items()}
    document = _compile(pipeline, images, defaults, COMMANDS[target])
    # TFX writes every number as a double (0.0 for an int seed); keep the types.
    document["runtimeConfig"]["parameterValues"] = dict(defaults)
    spec = document["pipelineSpec"]
    _add_defaults(spec, declared)
    spec["defaultPipelineRoot"] = pipeline.pipeline_info.pipeline_root
    _validate(document)
    if form == "json":
        text = _json_text(document)
    else:
        import yaml

        document = spec
        text = (
            f"# {spec['pipelineInfo']['name']}: compiled by `frontier compile {name}"
            f" --target {target}` (TFX {spec['sdkVersion']}, pipeline spec"
            f" {spec['schemaVersion']}).\n"
            f"# Runtime parameters: {', '.join(sorted(declared)) or 'none'}.\n"
            + yaml.safe_dump(spec, sort_keys=True)
        )
    _write_atomically(output, text)
    return document


def _check_kubeflow(pipeline) -> None:
    """Refuses nodes the open-source KFP v2 backend cannot run."""
    from tfx.dsl.components.common import resolver

    found = [c.id for c in pipeline.components if isinstance(c, resolver.Resolver)]
    if found:
        raise ValueError(
            f"resolver node(s) {found}: open-source Kubeflow Pipelines cannot run TFX resolvers"
            " (its v2 compiler answers 'resolver executors not implemented'); build the"
            " pipeline without them for --target kubeflow, or compile for vertex"
        )


def _compile(pipeline, images, defaults: dict[str, Any], command: list[str]) -> dict[str, Any]:
    from tfx import v1 as tfx

    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=images, default_commands=command, use_pipeline_spec_2_1=True
        ),
    )
    return runner.run(pipeline, parameter_values=defaults, write_out=False)


def _validate(document: dict[str, Any]) -> None:
    """Parses the document with the pipeline-spec protos (unknown fields fail)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    json_format.ParseDict(document, pipeline_spec_pb2.PipelineJob())
