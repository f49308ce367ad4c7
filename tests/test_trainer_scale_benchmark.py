"""benchmarks/trainer_scale.py's speed figure compares like with like: the stock TFX
Trainer's `run_fn` (benchmarks/stock_tfx_trainer_module.py) trains and exports the
model that frontier's module (benchmarks/trainer_scale_module.py) builds."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"

# What SchemaGen infers from the benchmark's Examples (infer_feature_shape=True).
SCHEMA = """
feature { name: "label" type: INT presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "pixels" type: FLOAT presence { min_fraction: 1.0 } shape { dim { size: 784 } } }
"""


def test_stock_run_fn_trains_and_exports_frontiers_model(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the stock module imports the shared one
    import tensorflow as tf
    from conftest import examples_artifact
    from tfx.components.trainer.executor import GenericExecutor
    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from trainer_scale import CLASSES, SIDE, write_examples
    from trainer_scale_module import build_model

    from frontier.components.common.examples_io import split_files
    from frontier.components.trainer.modules import ModelSpec
    from frontier.schemas.dataset import DatasetInfo

    uri = write_examples(str(tmp_path / "examples"), 64)
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    (pathlib.Path(schema.uri) / "schema.pbtxt").write_text(SCHEMA)
    outputs = {"model": standard_artifacts.Model(), "model_run": standard_artifacts.ModelRun()}
    for key, artifact in outputs.items():
        artifact.uri = str(tmp_path / key)
        os.makedirs(artifact.uri)
    config = {
        "feature_key": "pixels",
        "label_key": "label",
        "image_shape": [SIDE, SIDE, 1],
        "num_classes": CLASSES,
        "batch_size": 16,
        "learning_rate": 0.001,
        "seed": 0,
    }
    GenericExecutor().Do(
        {"examples": [examples_artifact(uri)], "schema": [schema]},
        {key: [artifact] for key, artifact in outputs.items()},
        {
            "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=2)),
            "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(num_steps=1)),
            "module_file": str(BENCHMARKS / "stock_tfx_trainer_module.py"),
            "custom_config": json.dumps(config),
        },
    )

    loaded = tf.saved_model.load(os.path.join(outputs["model"].uri, "Format-Serving"))
    info = DatasetInfo.read(uri)
    dim = info.input_dim
    frontier_model = build_model(
        ModelSpec(info, np.zeros(dim, np.float32), np.ones(dim, np.float32)), {}
    )
    serve = loaded.signatures["serving_default"]
    shapes = sorted(tuple(v.shape) for v in serve.variables)
    assert len(shapes) == 6  # conv, hidden and head: kernels and biases
    assert shapes == sorted(tuple(w.shape) for w in frontier_model.trainable_weights)

    records = tf.data.TFRecordDataset(split_files(uri, "eval")[:1], compression_type="GZIP")
    serialized = next(iter(records.batch(5)))
    probabilities = serve(examples=serialized)["probabilities"]
    assert probabilities.shape == (5, CLASSES)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)
