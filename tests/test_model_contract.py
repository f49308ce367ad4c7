"""The contract every model-producing component keeps (one suite, one case per component).

dp_accounting runs one conformance suite over every accountant; frontier does
the same for the components that publish a `Model`: Trainer, CiwTrainer,
KipDistill and DpFtrlTrainer. Each case runs its executor on the tiny digits;
the suite then checks, for each, that

- `serving_default` takes serialized `tf.Example`s (the Examples' own
  records) and returns `probabilities` [N, C] (rows summing to 1) and
  `classes` = their argmax;
- `dataset_info.json` sits beside the SavedModel and names the classes;
- the `Model` carries `train_accuracy`, `eval_accuracy` and `eval_loss`, and
  `eval_accuracy` is the serving signature's accuracy on the eval split;
- the stock TFX Evaluator evaluates and blesses it, and the Pusher pushes it.

A new model-producing component is one new entry in `CASES`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import (
    TINY_FEDERATED,
    TINY_NETWORK,
    examples_artifact,
    federated_examples,
    kip_params,
    run_executor,
    run_stock_evaluator,
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One model-producing component: how to run it on the tiny digits.

    Attributes:
      name: the component.
      run: (out_dir, digits Examples URI) -> (its output `Model` artifact,
        the `Examples` artifact it was trained on).
    """

    name: str
    run: Callable[[Any, str], tuple[Any, Any]]


def _trainer(out_dir, uri: str):
    from frontier.components.trainer import spec
    from frontier.components.trainer.executor import Executor

    examples = examples_artifact(uri)
    params = {**TINY_NETWORK, spec.EPOCHS_KEY: 3}
    out = run_executor(Executor, out_dir, {spec.EXAMPLES_KEY: examples}, params)
    return out[spec.MODEL_KEY], examples


def _ciw(out_dir, uri: str):
    from frontier.components.ciw import spec
    from frontier.components.ciw.executor import Executor
    from frontier.components.ciw.train import CiwConfig

    examples = examples_artifact(uri)
    params = {**dataclasses.asdict(CiwConfig(epochs=3, burn_in=5)), **TINY_NETWORK}
    out = run_executor(Executor, out_dir, {spec.EXAMPLES_KEY: examples}, params)
    return out[spec.MODEL_KEY], examples


def _kip(out_dir, uri: str):
    from frontier.components.kip import spec
    from frontier.components.kip.executor import Executor

    examples = examples_artifact(uri)
    params = kip_params(images_per_class=2, steps=20)
    out = run_executor(Executor, out_dir, {spec.EXAMPLES_KEY: examples}, params)
    return out[spec.MODEL_KEY], examples


def _dp_ftrl(out_dir, uri: str):
    from frontier.components.dp_ftrl import FederatedConfig, spec
    from frontier.components.dp_ftrl.executor import Executor

    examples = examples_artifact(federated_examples(out_dir, uri))
    # Less noise, more rounds and participations than the tiny run, so the model learns.
    learns = dict(rounds=20, clients_per_round=10, max_participations=10, client_lr=0.1)
    config = FederatedConfig(**{**TINY_FEDERATED, **learns, "noise_multiplier": 0.1})
    params = {
        spec.MECHANISM_KEY: spec.DP_FTRL,
        spec.BASELINES_KEY: "[]",
        spec.PRIVACY_BUDGET_KEY: 0.0,
        spec.FEATURE_SCALE_KEY: 16.0,
        **spec.config_to_properties(config),
    }
    out = run_executor(Executor, out_dir, {spec.EXAMPLES_KEY: examples}, params)
    return out[spec.MODEL_KEY], examples


CASES = [
    Case("Trainer", _trainer),
    Case("CiwTrainer", _ciw),
    Case("KipDistill", _kip),
    Case("DpFtrlTrainer", _dp_ftrl),
]


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def published(request, tmp_path_factory, digits_examples_uri):
    """(case, `Model` artifact, `Examples` artifact) after running the case's executor."""
    case = request.param
    out_dir = tmp_path_factory.mktemp(case.name)
    model, examples = case.run(out_dir, digits_examples_uri)
    return case, model, examples


def _eval_records(examples_uri: str) -> list[bytes]:
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files

    files = split_files(examples_uri, "eval")
    return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())


def test_serving_signature_takes_serialized_examples(published):
    import tensorflow as tf

    from frontier.components.trainer.export import CLASSES, PROBABILITIES, load_serving_signature
    from frontier.schemas.dataset import DatasetInfo

    _, model, examples = published
    records = _eval_records(examples.uri)
    out = load_serving_signature(model.uri)(examples=tf.constant(records))
    probabilities, classes = out[PROBABILITIES].numpy(), out[CLASSES].numpy()
    num_classes = DatasetInfo.read(examples.uri).num_classes
    assert probabilities.shape == (len(records), num_classes)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(classes, np.argmax(probabilities, axis=1))


def test_dataset_info_sits_beside_the_saved_model(published):
    from frontier.components.trainer.export import model_info, serving_dir
    from frontier.schemas.dataset import DATASET_INFO_FILE, DatasetInfo

    _, model, examples = published
    saved = serving_dir(model.uri)
    assert os.path.isfile(os.path.join(saved, "saved_model.pb"))
    assert os.path.isfile(os.path.join(saved, DATASET_INFO_FILE))
    info = model_info(model.uri)
    assert info.class_names == DatasetInfo.read(examples.uri).class_names
    assert info.feature_keys == DatasetInfo.read(examples.uri).feature_keys


def test_accuracy_properties_are_the_published_models(published):
    from frontier.components.common.executor import (
        EVAL_ACCURACY_PROPERTY,
        EVAL_LOSS_PROPERTY,
        MODEL_PROPERTIES,
        TRAIN_ACCURACY_PROPERTY,
    )
    from frontier.components.trainer.export import predict_examples

    _, model, examples = published
    for key in MODEL_PROPERTIES:
        assert model.has_custom_property(key), key
    for key in (TRAIN_ACCURACY_PROPERTY, EVAL_ACCURACY_PROPERTY):
        assert 0.0 <= model.get_float_custom_property(key) <= 1.0
    assert model.get_float_custom_property(EVAL_LOSS_PROPERTY) >= 0.0
    # A classifier that learned something: well above chance (0.1) on 10 digits.
    assert model.get_float_custom_property(TRAIN_ACCURACY_PROPERTY) > 0.3
    served = predict_examples(model.uri, examples.uri, "eval")
    accuracy = float(np.mean(served["classes"] == served["label"]))
    assert model.get_float_custom_property(EVAL_ACCURACY_PROPERTY) == pytest.approx(
        accuracy, abs=1e-6
    )


def test_stock_evaluator_blesses_and_pusher_pushes(published, tmp_path):
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import proto_utils

    from frontier.components.pusher.executor import AtomicPushExecutor

    _, model, examples = published
    _, blessing = run_stock_evaluator(tmp_path, examples, model)

    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    AtomicPushExecutor().Do(
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {
            standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
            standard_component_specs.CUSTOM_CONFIG_KEY: json.dumps({}),
        },
    )
    assert pushed.get_int_custom_property("pushed") == 1
    version = pushed.get_string_custom_property("pushed_version")
    assert os.path.isfile(os.path.join(tmp_path / "serving", version, "saved_model.pb"))
