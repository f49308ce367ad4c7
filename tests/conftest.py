"""Shared fixtures: tiny real data (scikit-learn digits) as frontier artifacts."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DIGIT_CLASSES = tuple(str(i) for i in range(10))


def tiny_digits(n_train: int = 200, n_eval: int = 80, seed: int = 0):
    """A class-balanced-ish digits subset as (DatasetInfo, {split: arrays})."""
    from sklearn.datasets import load_digits

    from frontier.schemas.dataset import DatasetInfo

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    idx = {"train": order[:n_train], "eval": order[n_train : n_train + n_eval]}
    splits = {
        name: {
            "x": digits.data[i].astype(np.float32),
            "label": digits.target[i].astype(np.int64),
            "example_id": np.array([f"digits#{j}".encode() for j in i], dtype=object),
        }
        for name, i in idx.items()
    }
    info = DatasetInfo(
        feature_keys=("pixels",),
        feature_dims=(64,),
        class_names=DIGIT_CLASSES,
        image_shape=(8, 8, 1),
        split_counts={k: len(v) for k, v in idx.items()},
        class_counts={
            k: tuple(int(c) for c in np.bincount(digits.target[v], minlength=10))
            for k, v in idx.items()
        },
        source="sklearn:digits (test subset)",
    )
    return info, splits


@pytest.fixture(scope="session")
def digits_examples_uri(tmp_path_factory) -> str:
    """A frontier `Examples` directory: 200 train / 80 eval digits."""
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import write_examples

    info, splits = tiny_digits()
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path_factory.mktemp("digits_examples"))
    write_examples(artifact, splits, info)
    return artifact.uri


@pytest.fixture(scope="session")
def digits_model_uri(tmp_path_factory, digits_examples_uri) -> str:
    """A frontier `Model` directory: a small MLP trained briefly on the tiny digits."""
    from frontier.components.common.examples_io import load_split
    from frontier.components.trainer import save_model_artifact, train
    from frontier.schemas.dataset import DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    data = load_split(digits_examples_uri, "train", info)
    model, _ = train(data["x"], data["label"], info, hidden_units=(32,), epochs=5, seed=0)
    uri = str(tmp_path_factory.mktemp("digits_model"))
    save_model_artifact(model, info, uri)
    return uri


# The network and optimiser the Keras trainers' executor tests share (Trainer, CiwTrainer).
TINY_NETWORK = {
    "model_type": "mlp",
    "hidden_units": "[32]",
    "learning_rate": 0.01,
    "seed": 0,
    "batch_size": 32,
    "label_key": "label",
}


def examples_artifact(uri: str, splits=("train", "eval")):
    """A frontier `Examples` artifact over an existing directory, with its split names."""
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import set_examples_properties

    artifact = standard_artifacts.Examples()
    artifact.uri = str(uri)
    set_examples_properties(artifact, list(splits))
    return artifact


def run_executor(executor_class, out_dir, inputs: dict, params: dict) -> dict:
    """Runs a frontier executor's `Do` as TFX would, with fresh output artifacts.

    Args:
      executor_class: a `ComponentExecutor` subclass (its `SPEC_CLASS` gives
        the output keys and artifact types).
      out_dir: a `pathlib.Path`; output `key` is written to `out_dir / key`.
      inputs: input key -> an artifact or a list of artifacts.
      params: the execution properties (`component_version` is added).

    Returns:
      Output key -> its artifact, after the run.
    """
    from frontier.components.common.versioning import COMPONENT_VERSION_KEY

    outputs = {key: channel.type() for key, channel in executor_class.SPEC_CLASS.OUTPUTS.items()}
    for key, artifact in outputs.items():
        artifact.uri = str(out_dir / key)
        os.makedirs(artifact.uri, exist_ok=True)  # as TFX's launcher prepares them
    executor_class().Do(
        {k: v if isinstance(v, list) else [v] for k, v in inputs.items()},
        {k: [v] for k, v in outputs.items()},
        {COMPONENT_VERSION_KEY: "test", **params},
    )
    return outputs


# A federated run small enough for a test: 6 rounds of 5 of 20 clients.
TINY_FEDERATED = dict(
    rounds=6,
    clients_per_round=5,
    max_participations=2,
    min_separation=2,
    noise_multiplier=1.0,
    clip=1.0,
    client_lr=0.05,
    local_batch_size=8,
    hidden_units=(16,),
    eval_every=3,
    delta=1e-5,
)


def kip_params(images_per_class: int, steps: int) -> dict:
    """KipDistill execution properties for a tiny run: plain KIP on the default
    kernel, fixed labels, standardised inputs, no ZCA, seed 0."""
    from frontier.components.kip import spec

    return {
        spec.IMAGES_PER_CLASS_KEY: images_per_class,
        spec.METHOD_KEY: spec.KIP,
        spec.KERNEL_KEY: spec.DEFAULT_KERNEL,
        spec.KERNEL_KIND_KEY: spec.DEFAULT_KERNEL_KIND,
        spec.STEPS_KEY: steps,
        spec.LEARNING_RATE_KEY: 0.04,
        spec.TARGET_BATCH_SIZE_KEY: 100,
        spec.LEARN_LABELS_KEY: 0,
        spec.STANDARDIZE_KEY: 1,
        spec.USE_ZCA_KEY: 0,
        spec.REG_KEY: 1e-6,
        spec.SEED_KEY: 0,
    }


def run_stock_evaluator(out_dir, examples, model) -> tuple:
    """The stock TFX Evaluator's executor on a model and an `Examples` artifact's
    eval split (frontier's `eval_config`, no accuracy floor); asserts that it
    blesses the model and returns (evaluation, blessing) under `out_dir`."""
    import json

    from tfx.components.evaluator import executor as evaluator_executor
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import proto_utils

    from frontier.components.evaluate.config import eval_config
    from frontier.schemas.dataset import DatasetInfo

    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(out_dir / "evaluation"), str(out_dir / "blessing")
    config = eval_config(DatasetInfo.read(examples.uri), min_accuracy=0.0, max_accuracy_drop=None)
    evaluator_executor.Executor().Do(
        {
            standard_component_specs.EXAMPLES_KEY: [examples],
            standard_component_specs.MODEL_KEY: [model],
        },
        {
            standard_component_specs.EVALUATION_KEY: [evaluation],
            standard_component_specs.BLESSING_KEY: [blessing],
        },
        {
            standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config),
            standard_component_specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"]),
        },
    )
    assert blessing.get_int_custom_property("blessed") == 1
    return evaluation, blessing


def federated_examples(out_dir, digits_examples_uri: str, num_clients: int = 20) -> str:
    """The tiny digits with a client_id per example (IID over `num_clients` users),
    written under `out_dir`; returns the Examples directory."""
    import dataclasses

    from frontier.components.common.examples_io import load_split, write_examples
    from frontier.components.dp_ftrl import partition_clients
    from frontier.schemas.dataset import CLIENT_ID_KEY, DatasetInfo

    info = DatasetInfo.read(digits_examples_uri)
    info = dataclasses.replace(info, role_keys=(*info.role_keys, CLIENT_ID_KEY))
    splits = {s: load_split(digits_examples_uri, s) for s in ("train", "eval")}
    for i, arrays in enumerate(splits.values()):
        users = partition_clients(arrays["label"], num_clients, "iid", seed=i)
        arrays[CLIENT_ID_KEY] = np.array([f"user-{u:03d}".encode() for u in users], object)
    artifact = examples_artifact(os.path.join(out_dir, "federated_examples"))
    write_examples(artifact, splits, info)
    return artifact.uri


def tiny_demo_config():
    """The demo's whole graph at toy sizes (seconds per component): the config of
    `test_demo.py` and of the browser test of the run page."""
    from frontier.components.ciw import CiwConfig
    from frontier.pipelines import ciw, demo, dp_ftrl, kip, spl

    return demo.DemoConfig(
        epochs=3,
        hidden_units=(32,),
        min_accuracy=0.5,
        kip=kip.KipConfig(images_per_class=(1,), steps=10, target_batch_size=100, trainer_epochs=2),
        ciw=ciw.CiwPipelineConfig(
            methods=("ce", "ciw"), training=CiwConfig(epochs=2, burn_in=5, anneal_steps=5)
        ),
        spl=spl.SplPipelineConfig(
            target_size=300, strategies=("spl",), hidden_units=(32,), epochs=2, pretrain_epochs=1
        ),
        dp_ftrl=dp_ftrl.DpFtrlPipelineConfig(
            population=None,  # the client-partition flow; test_dp_ftrl_pipeline runs a population
            target_epsilon=None,
            num_clients=30,
            training=dp_ftrl.FederatedConfig(
                rounds=4, clients_per_round=5, max_participations=1, hidden_units=(16,), delta=1e-5
            ),
            baselines=(),
            privacy_budget=None,
        ),
    )


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """(root, run, report path) of one run of `tiny_demo_config()` in a fresh root.

    Session-scoped: the browser test opens its pages, and `test_demo.py` asserts
    on it as its first run, then re-runs the same root (cache, Beam runner, CLI).
    """
    from frontier.pipelines import demo, runner

    root = str(tmp_path_factory.mktemp("tiny_demo"))
    run, report, _ = runner.run_and_report(demo.create_pipeline(root, tiny_demo_config()), root)
    return root, run, report
