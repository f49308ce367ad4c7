"""Compiled steps run the way Vertex AI / Kubeflow run them, without a cluster.

Each step of a compiled spec is a container whose command is
`python -m frontier.pipelines.entrypoint` (TFX's `kubeflow_v2_run_executor`
able to rebuild frontier's artifact types), given the launcher's
`ExecutorInput` JSON in place of `{{$}}`. Here a small stand-in launcher builds that JSON from the compiled
YAML (constants, runtime parameter values as the launcher passes them: every
number a JSON double; upstream artifacts from the producer's executor output)
and runs the entrypoint in this process with the spec's own arguments. That
checks what compile-time tests cannot: that runtime parameter values reach
frontier's executors typed as they expect, that frontier's own artifact types
(the HTML pages) survive the trip, and that one step's output artifacts feed
the next. The CIW steps get `minio://` artifact URIs, as on open-source KFP,
whose launcher keeps each artifact at a local path named after its URI (here
under `$ARTIFACT_LOCAL_PATH`).
"""

from __future__ import annotations

import json
import os

import yaml

from frontier.components.ciw import CiwConfig
from frontier.pipelines import ciw
from frontier.pipelines.compile import compile_pipeline

IMAGE = "us-central1-docker.pkg.dev/example-project/frontier/frontier:0.1.0"
TINY = ciw.CiwPipelineConfig(
    methods=("ce", "ciw"),
    training=CiwConfig(epochs=2, lam=1.0, burn_in=10, anneal_steps=0, schedule="constant"),
    hidden_units=(16,),
)


def _executor_input(
    spec: dict, task: str, params: dict, produced: dict, workdir: str, root: str
) -> dict:
    """The ExecutorInput a KFP v2 launcher would hand `task`'s container; outputs under `root`."""
    node = spec["root"]["dag"]["tasks"][task]
    component = spec["components"][node["componentRef"]["name"]]
    values = {}
    for key, source in node["inputs"].get("parameters", {}).items():
        if "componentInputParameter" in source:
            values[key] = params[source["componentInputParameter"]]
        else:
            values[key] = source["runtimeValue"]["constant"]
    # The launcher hands on the producer's output artifacts (uri, metadata) with
    # the type this component declares for the input.
    artifacts = {}
    for key, src in node["inputs"].get("artifacts", {}).items():
        upstream = produced[src["taskOutputArtifact"]["producerTask"]]
        kind = component["inputDefinitions"]["artifacts"][key]["artifactType"]
        artifacts[key] = {
            "artifacts": [
                {**a, "type": kind}
                for a in upstream[src["taskOutputArtifact"]["outputArtifactKey"]]["artifacts"]
            ]
        }
    outputs = {
        key: {
            "artifacts": [
                {
                    "name": f"{task}-{key}",
                    "type": out["artifactType"],
                    "uri": f"{root}/{task}/{key}",
                }
            ]
        }
        for key, out in component["outputDefinitions"]["artifacts"].items()
    }
    return {
        "inputs": {"parameterValues": values, "artifacts": artifacts},
        "outputs": {
            "artifacts": outputs,
            "outputFile": os.path.join(workdir, task, "executor_output.json"),
        },
    }


def _run_step(
    spec: dict, task: str, params: dict, produced: dict, workdir: str, root: str | None = None
) -> dict:
    """Runs `task` through the container's command; returns its output artifacts."""
    from frontier.pipelines import entrypoint

    node = spec["root"]["dag"]["tasks"][task]
    label = spec["components"][node["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][label]["container"]
    program, flags = container["command"][:3], container["command"][3:]
    assert program == ["python", "-m", entrypoint.__name__]
    inputs = _executor_input(spec, task, params, produced, workdir, root or workdir)
    args = [json.dumps(inputs) if a == "{{$}}" else a for a in container["args"]]
    entrypoint.run([*flags, *args])
    with open(os.path.join(workdir, task, "executor_output.json")) as f:
        return json.load(f)["artifacts"]


def _compiled(name: str, config, tmp_path) -> tuple[dict, dict]:
    """Pipeline `name` with `config`, compiled for kubeflow: (the spec, its parameters'
    defaults, as a run gets them without `--param`)."""
    path = str(tmp_path / f"{name}.yaml")
    compile_pipeline(name, "kubeflow", IMAGE, path, "gs://example/frontier", config=config)
    with open(path) as f:
        spec = yaml.safe_load(f)
    declared = spec["root"]["inputDefinitions"]["parameters"]
    return spec, {k: v["defaultValue"] for k, v in declared.items()}


def test_compiled_steps_run_with_runtime_parameter_values(tmp_path, monkeypatch):
    from frontier.components.ciw import executor as ciw_executor
    from frontier.pipelines.entrypoint import launcher_path

    configs = []  # what the trainer's executor trains with

    def fit_ciw(classifier, batches, config, num_classes, **kwargs):
        configs.append(config)
        return real_fit_ciw(classifier, batches, config, num_classes, **kwargs)

    real_fit_ciw = ciw_executor.fit_ciw
    monkeypatch.setattr(ciw_executor, "fit_ciw", fit_ciw)
    monkeypatch.setenv("ARTIFACT_LOCAL_PATH", str(tmp_path / "launcher"))
    root = "minio://mlpipeline/v2/artifacts/run"
    spec, defaults = _compiled("ciw", TINY, tmp_path)
    # As `frontier submit --param noise_rate=0.5 --param seed=3` sets them; the launcher
    # passes every number as a double.
    params = {**defaults, "noise_rate": 0.5, "seed": 3.0}
    workdir = str(tmp_path / "run")
    produced = {"IngestNoisy": _run_step(spec, "IngestNoisy", params, {}, workdir, root)}
    (examples,) = produced["IngestNoisy"]["examples"]["artifacts"]
    meta = examples["metadata"]
    assert meta["noise_rate"] == 0.5 and meta["label_noise"] == "symmetric"
    assert 0.4 < meta["flipped_fraction"] < 0.6
    # The executor output names the remote URI (the launcher uploads from its local path).
    assert examples["uri"] == f"{root}/IngestNoisy/examples"
    local = str(tmp_path / "launcher" / "minio" / "mlpipeline" / "v2" / "artifacts" / "run")
    assert launcher_path(examples["uri"]) == os.path.join(local, "IngestNoisy", "examples")
    assert os.path.isdir(os.path.join(launcher_path(examples["uri"]), "Split-train"))
    (page,) = produced["IngestNoisy"]["visualization"]["artifacts"]
    assert os.path.exists(os.path.join(launcher_path(page["uri"]), "index.html"))

    step = _run_step(spec, "CiwTrainer_ciw", params, produced, workdir, root)
    (model,) = step["model"]["artifacts"]
    assert model["uri"] == f"{root}/CiwTrainer_ciw/model"
    assert model["metadata"]["method"] == "ciw"
    assert [(c.method, c.seed, type(c.seed)) for c in configs] == [("ciw", 3, int)]
    assert model["metadata"]["flipped_fraction"] == meta["flipped_fraction"]
    saved = os.path.join(launcher_path(model["uri"]), "Format-Serving", "saved_model.pb")
    assert os.path.exists(saved)


def test_a_privacy_budget_set_per_run_is_checked_in_the_step(tmp_path):
    """The budget passes at compile time (its default); a smaller one given to a run
    is refused by the trainer's step before any training, and one large enough
    trains and writes the ledger (a frontier artifact type) with the run's seed."""
    import dataclasses

    import pytest
    from conftest import TINY_FEDERATED

    from frontier.components.common.errors import InputError
    from frontier.components.dp_ftrl import FederatedConfig
    from frontier.pipelines import dp_ftrl

    config = dataclasses.replace(
        dp_ftrl.DpFtrlPipelineConfig(),
        population=None,  # Ingest's client partition of the `source` parameter
        target_epsilon=None,
        num_clients=30,
        training=FederatedConfig(**TINY_FEDERATED),
        baselines=(),
        privacy_budget=1000.0,
    )
    spec, params = _compiled("dp_ftrl", config, tmp_path)
    workdir = str(tmp_path / "run")
    produced = {"IngestFederated": _run_step(spec, "IngestFederated", params, {}, workdir)}
    with pytest.raises(InputError, match=r"privacy_budget.*epsilon"):
        _run_step(spec, "DpFtrlTrainer", {**params, "privacy_budget": 1.0}, produced, workdir)
    out = _run_step(spec, "DpFtrlTrainer", {**params, "seed": 5.0}, produced, workdir)
    (ledger,) = out["privacy_ledger"]["artifacts"]
    assert 0 < ledger["metadata"]["epsilon"] <= 1000.0
    assert os.path.exists(os.path.join(ledger["uri"], "privacy_ledger.json"))
