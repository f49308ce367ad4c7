"""The component conformance suite: every frontier component passes it.

For each component: built into a pipeline of its own (inputs fed by
`tfx.dsl.Importer`, plus the stock component that must produce an input no
importer can fake), compiled with `KubeflowV2DagRunner` to Vertex / Kubeflow
pipeline JSON, run on a tiny input with `LocalDagRunner`, and fed one bad
input that must fail with a clear error and publish nothing.

A new component joins by adding one `Case` to `CASES`;
`test_every_component_is_listed` fails until it does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable

import pytest
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from frontier.components.common.examples_io import load_split, write_examples
from frontier.pipelines import runner as runner_lib
from frontier.pipelines import runs as runs_lib
from frontier.schemas.artifacts import HTML_FILE_NAME, HtmlReport
from frontier.schemas.dataset import DatasetInfo

COMPONENTS_DIR = pathlib.Path(__file__).resolve().parents[1] / "components"
IMAGE = "us-docker.pkg.dev/example-project/frontier/frontier:test"


@dataclasses.dataclass
class Env:
    """What a case builds from: the tiny artifacts and a scratch directory."""

    examples: str  # frontier Examples: 200 train / 80 eval digits
    model: str  # frontier Model trained on them
    tmp: pathlib.Path


def _import(uri: str, artifact_type, node_id: str, **properties):
    return tfx.dsl.Importer(
        source_uri=uri,
        artifact_type=artifact_type,
        properties={k: v for k, v in properties.items() if k == "split_names"},
        custom_properties={k: v for k, v in properties.items() if k != "split_names"},
    ).with_id(node_id)


def _import_examples(uri: str, node_id: str = "import_examples"):
    return _import(uri, standard_artifacts.Examples, node_id, split_names='["train", "eval"]')


@dataclasses.dataclass(frozen=True)
class Case:
    """One component under the suite.

    Attributes:
      package: its folder under components/.
      node_id: its node id in the pipelines `good` and `bad` build.
      good: Env -> the pipeline's components for a tiny valid input.
      bad: Env -> the components for one bad input.
      error: a regex the bad run's error message must match.
    """

    package: str
    node_id: str
    good: Callable[[Env], list]
    bad: Callable[[Env], list]
    error: str


# --- ingest ---------------------------------------------------------------------------


def _ingest_good(env: Env) -> list:
    from frontier.components.ingest import Ingest

    return [Ingest(source="sklearn:iris", seed=1)]


def _ingest_bad(env: Env) -> list:
    from frontier.components.ingest import Ingest

    path = env.tmp / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    return [Ingest(source=str(path), feature_columns=["a", "b"], classes=["x", "y"])]


# --- trainer --------------------------------------------------------------------------


def _trainer_good(env: Env) -> list:
    from frontier.components.trainer import Trainer

    examples = _import_examples(env.examples)
    return [examples, Trainer(examples=examples.outputs["result"], epochs=1, hidden_units=[16])]


def _examples_with_labels_beyond(env: Env, num_classes: int) -> str:
    """The tiny digits, declared with fewer classes than their labels use."""
    info = DatasetInfo.read(env.examples)
    info = dataclasses.replace(info, class_names=info.class_names[:num_classes], class_counts={})
    artifact = standard_artifacts.Examples()
    artifact.uri = str(env.tmp / f"examples_{num_classes}_classes")
    splits = {s: load_split(env.examples, s) for s in ("train", "eval")}
    write_examples(artifact, splits, info)
    return artifact.uri


def _trainer_bad(env: Env) -> list:
    from frontier.components.trainer import Trainer

    examples = _import_examples(_examples_with_labels_beyond(env, 5))
    return [examples, Trainer(examples=examples.outputs["result"], epochs=1)]


# --- evaluate -------------------------------------------------------------------------


def _evaluate_good(env: Env) -> list:
    from frontier.components.evaluate import EvaluationReport, make_evaluator

    examples = _import_examples(env.examples)
    model = _import(env.model, standard_artifacts.Model, "import_model")
    evaluator = make_evaluator(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        num_classes=10,
        min_accuracy=0.0,
    )
    report = EvaluationReport(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
    )
    return [examples, model, evaluator, report]


def _evaluate_bad(env: Env) -> list:
    from frontier.components.evaluate import EvaluationReport

    examples = _import_examples(_examples_with_labels_beyond(env, 5))
    model = _import(env.model, standard_artifacts.Model, "import_model")
    (env.tmp / "evaluation").mkdir(exist_ok=True)
    evaluation = _import(
        str(env.tmp / "evaluation"), standard_artifacts.ModelEvaluation, "import_eval"
    )
    report = EvaluationReport(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        evaluation=evaluation.outputs["result"],
    )
    return [examples, model, evaluation, report]


# --- pusher ---------------------------------------------------------------------------


def _pusher(env: Env, model_uri: str) -> list:
    from frontier.components.pusher import Pusher

    model = _import(model_uri, standard_artifacts.Model, "import_model")
    (env.tmp / "blessing").mkdir(exist_ok=True)
    blessing = _import(
        str(env.tmp / "blessing"), standard_artifacts.ModelBlessing, "import_blessing", blessed=1
    )
    pusher = Pusher(
        model=model.outputs["result"],
        model_blessing=blessing.outputs["result"],
        base_directory=str(env.tmp / "serving"),
    )
    return [model, blessing, pusher]


def _pusher_bad(env: Env) -> list:
    empty = env.tmp / "not_a_model" / "Format-Serving"
    empty.mkdir(parents=True, exist_ok=True)
    return _pusher(env, str(empty.parent))


# --- kip ------------------------------------------------------------------------------


def _kip_good(env: Env) -> list:
    from frontier.components.kip import KipDistill

    examples = _import_examples(env.examples)
    return [
        examples,
        KipDistill(examples=examples.outputs["result"], steps=5, target_batch_size=100),
    ]


def _kip_bad(env: Env) -> list:
    from frontier.components.kip import KipDistill

    examples = _import_examples(env.examples)  # the smallest class has 14 training examples
    return [examples, KipDistill(examples=examples.outputs["result"], images_per_class=20)]


# --- ciw ------------------------------------------------------------------------------


def _ciw_good(env: Env) -> list:
    from frontier.components.ciw import CiwTrainer

    examples = _import_examples(env.examples)
    trainer = CiwTrainer(
        examples=examples.outputs["result"], epochs=2, burn_in=3, batch_size=32, hidden_units=[16]
    )
    return [examples, trainer]


def _ciw_bad(env: Env) -> list:
    from frontier.components.ciw import CiwTrainer

    examples = _import_examples(env.examples)  # no true_label column
    return [
        examples,
        CiwTrainer(examples=examples.outputs["result"], epochs=1, label_key="true_label"),
    ]


# --- spl ------------------------------------------------------------------------------


def _weak_pool(env: Env) -> str:
    """The tiny digits with a `weak_label` column (bags with 30% off-topic examples)."""
    from frontier.components.spl.bags import make_bags
    from frontier.schemas.dataset import WEAK_LABEL_KEY

    info = DatasetInfo.read(env.examples)
    info = dataclasses.replace(info, role_keys=(*info.role_keys, WEAK_LABEL_KEY))
    splits = {s: load_split(env.examples, s) for s in ("train", "eval")}
    for i, arrays in enumerate(splits.values()):
        arrays[WEAK_LABEL_KEY] = make_bags(arrays["label"], 0.3, 10, seed=i).weak
    artifact = standard_artifacts.Examples()
    artifact.uri = str(env.tmp / "weak_pool")
    write_examples(artifact, splits, info)
    return artifact.uri


def _spl(env: Env, pool_uri: str) -> list:
    from frontier.components.spl import SplLabeler

    pool = _import_examples(pool_uri)
    teacher = _import(env.model, standard_artifacts.Model, "import_model")
    labeler = SplLabeler(
        examples=pool.outputs["result"], teacher=teacher.outputs["result"], min_count=3
    )
    return [pool, teacher, labeler]


# --- dp_ftrl --------------------------------------------------------------------------


def _with_client_ids(env: Env) -> str:
    """The tiny digits with a client_id per example (20 users, IID)."""
    import numpy as np

    from frontier.components.dp_ftrl import partition_clients
    from frontier.schemas.dataset import CLIENT_ID_KEY

    info = DatasetInfo.read(env.examples)
    info = dataclasses.replace(info, role_keys=(*info.role_keys, CLIENT_ID_KEY))
    splits = {s: load_split(env.examples, s) for s in ("train", "eval")}
    for i, arrays in enumerate(splits.values()):
        users = partition_clients(arrays["label"], 20, "iid", seed=i)
        arrays[CLIENT_ID_KEY] = np.array([f"user-{u}".encode() for u in users], object)
    artifact = standard_artifacts.Examples()
    artifact.uri = str(env.tmp / "federated")
    write_examples(artifact, splits, info)
    return artifact.uri


def _dp_ftrl(env: Env, examples_uri: str) -> list:
    from frontier.components.dp_ftrl import DpFtrlTrainer

    examples = _import_examples(examples_uri)
    trainer = DpFtrlTrainer(
        examples=examples.outputs["result"],
        rounds=4,
        clients_per_round=5,
        max_participations=1,
        hidden_units=[16],
        baselines=["dp_fedavg"],
    )
    return [examples, trainer]


def _group_clients(env: Env, examples_uri: str) -> list:
    from frontier.components.group_clients import GroupClients

    examples = _import_examples(examples_uri)
    return [examples, GroupClients(examples=examples.outputs["result"], num_shards=2)]


CASES = [
    Case(
        "ingest", "Ingest", _ingest_good, _ingest_bad, r"bad\.csv, row 3, column 'b'.*not a number"
    ),
    Case(
        "trainer",
        "Trainer",
        _trainer_good,
        _trainer_bad,
        r"row \d+, column 'label': class id \d out of range",
    ),
    Case(
        "evaluate",
        "EvaluationReport",
        _evaluate_good,
        _evaluate_bad,
        r"predicts 10 classes but the examples declare 5",
    ),
    Case("pusher", "Pusher", lambda env: _pusher(env, env.model), _pusher_bad, r"not a SavedModel"),
    Case(
        "kip",
        "KipDistill",
        _kip_good,
        _kip_bad,
        r"Split-train, parameter 'images_per_class': images_per_class = 20 but class 0 \('0'\) "
        r"has only 14 training examples",
    ),
    Case(
        "ciw",
        "CiwTrainer",
        _ciw_good,
        _ciw_bad,
        r"dataset_info\.json, column 'true_label': the examples have no 'true_label' column",
    ),
    Case(
        "spl",
        "SplLabeler",
        lambda env: _spl(env, _weak_pool(env)),
        lambda env: _spl(env, env.examples),  # no weak_label column
        r"dataset_info\.json, column 'weak_label': the examples have no 'weak_label' column",
    ),
    Case(
        "dp_ftrl",
        "DpFtrlTrainer",
        lambda env: _dp_ftrl(env, _with_client_ids(env)),
        lambda env: _dp_ftrl(env, env.examples),  # no client_id column
        r"dataset_info\.json, column 'client_id': the examples have no 'client_id' column",
    ),
    Case(
        "group_clients",
        "GroupClients",
        lambda env: _group_clients(env, _with_client_ids(env)),
        lambda env: _group_clients(env, env.examples),  # no client_id column
        r"dataset_info\.json, column 'client_id': the examples have no 'client_id' column",
    ),
]


def _pipeline(components: list, root: pathlib.Path, name: str):
    return tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=str(root / "pipeline_root"),
        components=components,
        enable_cache=False,
        metadata_connection_config=runner_lib.metadata_config(str(root)),
    )


@pytest.fixture
def env(tmp_path, digits_examples_uri, digits_model_uri) -> Env:
    return Env(examples=digits_examples_uri, model=digits_model_uri, tmp=tmp_path)


def test_every_component_is_listed():
    packages = {p.parent.name for p in COMPONENTS_DIR.glob("*/component.py")}
    assert packages == {c.package for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.package)
def test_compiles_for_vertex_and_kubeflow(case: Case, env: Env):
    pipeline = _pipeline(case.good(env), env.tmp, f"conformance-{case.package.replace('_', '-')}")
    out = env.tmp / "compiled"
    tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE),
        output_dir=str(out),
        output_filename="pipeline.json",
    ).run(pipeline)
    spec = json.loads((out / "pipeline.json").read_text())["pipelineSpec"]
    assert case.node_id in spec["root"]["dag"]["tasks"]
    images = {
        e["container"]["image"]
        for e in spec["deploymentSpec"]["executors"].values()
        if "container" in e
    }
    assert images == {IMAGE}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.package)
def test_runs_on_a_tiny_input(case: Case, env: Env):
    pipeline = _pipeline(case.good(env), env.tmp, f"conformance-{case.package.replace('_', '-')}")
    runner_lib.run_pipeline(pipeline)
    run = runs_lib.latest_run(str(env.tmp))
    node = next(n for n in run.nodes if n.node_id == case.node_id)
    assert node.state == "COMPLETE"
    assert node.outputs
    for a in node.outputs:
        assert os.path.exists(a.uri), a
        if a.type_name == HtmlReport.TYPE_NAME:
            assert os.path.getsize(os.path.join(a.uri, HTML_FILE_NAME)) > 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.package)
def test_rejects_a_bad_input_clearly(case: Case, env: Env):
    pipeline = _pipeline(
        case.bad(env), env.tmp, f"conformance-{case.package.replace('_', '-')}-bad"
    )
    with pytest.raises(Exception, match=case.error):
        runner_lib.run_pipeline(pipeline)
    run = runs_lib.latest_run(str(env.tmp))
    node = next(n for n in run.nodes if n.node_id == case.node_id)
    assert node.state == "FAILED"
    assert node.outputs == (), "a failed component published outputs"
