"""Compact image storage: images as uint8 bytes in the Examples, decoded in the input pipeline.

The tiny digits (integer pixels 0..16) are written twice, in the float32
layout (`digits_examples_uri`) and in the compact one (divisor 1): every
reader sees the same float32 arrays in both, the trainers give the same
results on both, KIP, SPL, the stock Evaluator and EvaluationReport read the
compact one, and the serving signatures take either layout, example by
example. Ingest's own compact output (image folders, NPZ uint8 arrays) is
tested in `test_ingest_readers.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from conftest import (
    TINY_FEDERATED,
    TINY_NETWORK,
    examples_artifact,
    federated_examples,
    kip_params,
    run_stock_evaluator,
)
from conftest import run_executor as run_component

from frontier.schemas.dataset import UINT8_ENCODING, DatasetInfo

# The digits' pixels are integers: stored as they are, divided by 1.
COMPACT = {"image_encoding": UINT8_ENCODING, "pixel_divisor": 1}
SPLITS = ("train", "eval")


@pytest.fixture(scope="module")
def compact_digits_uri(tmp_path_factory) -> str:
    """`digits_examples_uri`'s examples in the compact layout."""
    from conftest import tiny_digits

    from frontier.components.common.examples_io import write_examples

    info, splits = tiny_digits()
    artifact = examples_artifact(tmp_path_factory.mktemp("compact_digits"))
    write_examples(artifact, splits, dataclasses.replace(info, **COMPACT))
    return artifact.uri


def _records(uri: str, split: str = "eval") -> list[bytes]:
    import tensorflow as tf

    from frontier.components.common.examples_io import split_files

    files = split_files(uri, split)
    return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())


def _keys(record: bytes) -> list[str]:
    import tensorflow as tf

    return sorted(tf.train.Example.FromString(record).features.feature)


def test_dataset_info_names_its_layout_and_old_files_still_read():
    from conftest import tiny_digits

    info, _ = tiny_digits()
    old = json.loads(info.to_json())
    assert "image_encoding" not in old and "pixel_divisor" not in old  # float32: as before
    assert DatasetInfo.from_json(json.dumps(old)) == info
    assert DatasetInfo.from_json(json.dumps(old)).image_encoding is None
    compact = dataclasses.replace(info, **COMPACT)
    assert DatasetInfo.from_json(compact.to_json()) == compact and compact.compact
    with pytest.raises(ValueError, match="needs image_shape and one feature key"):
        dataclasses.replace(compact, image_shape=None)
    with pytest.raises(ValueError, match="pixel_divisor >= 1"):
        dataclasses.replace(compact, pixel_divisor=0)
    with pytest.raises(ValueError, match="unknown image_encoding 'png'"):
        dataclasses.replace(compact, image_encoding="png")
    with pytest.raises(ValueError, match="pixel_divisor is only for"):
        dataclasses.replace(info, pixel_divisor=255)


def test_only_values_the_layout_holds_exactly_are_written_compact(tmp_path):
    from conftest import tiny_digits

    from frontier.components.common.examples_io import to_uint8, write_examples

    k = np.arange(256, dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(k / np.float32(255), 255), k.astype(np.uint8))
    with pytest.raises(ValueError, match=r"at index \(0,\) is not k / 255 for an integer k"):
        to_uint8(np.float32([0.5 / 255]), 255)
    with pytest.raises(ValueError, match=r"value 256.0 at index \(1,\) is not k / 1"):
        to_uint8(np.float32([1, 256]), 1)
    with pytest.raises(ValueError, match=r"value nan at index \(1,\)"):
        to_uint8(np.float32([0, np.nan]), 1)
    info, splits = tiny_digits()
    splits["train"]["x"] = splits["train"]["x"] / 3  # continuous values: no silent rounding
    artifact = examples_artifact(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"write_split 'train': x value 0.33.* \(0, 2\)"):
        write_examples(artifact, splits, dataclasses.replace(info, **COMPACT))
    assert not os.path.exists(os.path.join(artifact.uri, "Split-train"))


def test_both_layouts_read_as_the_same_arrays(digits_examples_uri, compact_digits_uri):
    from frontier.components.common import streaming
    from frontier.components.common.examples_io import load_split, split_files

    assert _keys(_records(digits_examples_uri)[0]) == ["example_id", "label", "pixels"]
    assert _keys(_records(compact_digits_uri)[0]) == [
        "example_id",
        "label",
        "pixels/divisor",
        "pixels/uint8",
    ]
    floats, compact = (DatasetInfo.read(u) for u in (digits_examples_uri, compact_digits_uri))
    assert compact.input_dim == floats.input_dim == 64 and compact.pixel_divisor == 1
    for split in SPLITS:
        want, got = (load_split(u, split) for u in (digits_examples_uri, compact_digits_uri))
        assert got["x"].dtype == np.float32
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        batches = streaming.batches(compact_digits_uri, split, compact, batch_size=64)
        x = np.concatenate([x for x, _ in batches.as_numpy_iterator()])
        np.testing.assert_array_equal(x, want["x"])
        smaller, larger = (
            split_files(u, split)[0] for u in (compact_digits_uri, digits_examples_uri)
        )
        assert os.path.getsize(smaller) < os.path.getsize(larger)
    want = streaming.summarize(digits_examples_uri, "train", floats)
    got = streaming.summarize(compact_digits_uri, "train", compact)
    for a, b in zip(dataclasses.astuple(want), dataclasses.astuple(got), strict=True):
        np.testing.assert_array_equal(a, b)


def test_serving_signatures_take_either_layout(
    tmp_path, digits_model_uri, digits_examples_uri, compact_digits_uri
):
    import tensorflow as tf

    from frontier.components.common.examples_io import load_split
    from frontier.components.kip import distill, export, preprocess
    from frontier.components.trainer import (
        predict_examples,
        predict_serialized,
        save_model_artifact,
        train,
    )
    from frontier.components.trainer.export import load_serving_signature

    compact = DatasetInfo.read(compact_digits_uri)
    data = load_split(compact_digits_uri, "train")
    trained_compact = str(tmp_path / "compact_model")
    model, _ = train(data["x"], data["label"], compact, hidden_units=(8,), epochs=1, seed=0)
    save_model_artifact(model, compact, trained_compact)
    init = np.arange(10)
    prep = preprocess.fit_preprocessing(data["x"], compact.image_shape)
    support = distill.KipResult(
        prep.apply(data["x"][init]), distill.centered_one_hot(data["label"][init], 10),
        data["label"][init], init, prep, distill.KipHistory(),
    )  # fmt: skip
    krr_uri = str(tmp_path / "krr_model")
    krr = export.fit_krr_model(support, distill.KernelSpec(), compact.image_shape, 1e-6)
    export.save_model_artifact(krr, compact, krr_uri)

    floats, packed = _records(digits_examples_uri), _records(compact_digits_uri)
    mixed = [f if i % 2 else c for i, (f, c) in enumerate(zip(floats, packed, strict=True))]
    for uri in (digits_model_uri, trained_compact, krr_uri):  # float- and compact-trained
        want = predict_examples(uri, digits_examples_uri)
        got = predict_examples(uri, compact_digits_uri)  # EvaluationReport's path
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        fn = load_serving_signature(uri)
        for records in (packed, mixed):
            np.testing.assert_array_equal(
                predict_serialized(fn, records)["probabilities"], want["probabilities"]
            )
        neither = tf.train.Example.FromString(packed[0])
        del neither.features.feature["pixels/uint8"]
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match="needs feature pixels as 64 float32 values, or pixels/uint8 as 64 uint8",
        ):
            predict_serialized(fn, [neither.SerializeToString()])


def _trainer(out_dir, uri: str):
    from frontier.components.trainer import spec
    from frontier.components.trainer.executor import Executor

    params = {**TINY_NETWORK, spec.EPOCHS_KEY: 2}
    inputs = {spec.EXAMPLES_KEY: examples_artifact(uri)}
    return run_component(Executor, out_dir, inputs, params)[spec.MODEL_KEY]


def _kip(out_dir, uri: str):
    from frontier.components.kip import spec
    from frontier.components.kip.executor import Executor

    params = kip_params(images_per_class=1, steps=5)
    out = run_component(Executor, out_dir, {spec.EXAMPLES_KEY: examples_artifact(uri)}, params)
    return out[spec.MODEL_KEY], out[spec.DISTILLED_KEY]


def _dp_ftrl(out_dir, uri: str):
    from frontier.components.dp_ftrl import FederatedConfig, spec
    from frontier.components.dp_ftrl.executor import Executor

    params = {
        spec.MECHANISM_KEY: spec.DP_FTRL,
        spec.BASELINES_KEY: "[]",
        spec.PRIVACY_BUDGET_KEY: 0.0,
        spec.FEATURE_SCALE_KEY: 16.0,
        **spec.config_to_properties(FederatedConfig(**TINY_FEDERATED)),
    }
    inputs = {spec.EXAMPLES_KEY: examples_artifact(federated_examples(out_dir, uri))}
    return run_component(Executor, out_dir, inputs, params)[spec.MODEL_KEY]


def _model_at(uri: str):
    """A `Model` artifact over an existing model directory."""
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.uri = uri
    return model


def _spl(out_dir, uri: str, teacher_uri: str):
    from frontier.components.common.examples_io import load_split, write_examples
    from frontier.components.spl import spec
    from frontier.components.spl.bags import make_bags
    from frontier.components.spl.executor import Executor
    from frontier.schemas.dataset import WEAK_LABEL_KEY

    info = DatasetInfo.read(uri)
    info = dataclasses.replace(info, role_keys=(*info.role_keys, WEAK_LABEL_KEY))
    splits = {s: load_split(uri, s) for s in SPLITS}
    for i, arrays in enumerate(splits.values()):
        arrays[WEAK_LABEL_KEY] = make_bags(arrays["label"], 0.3, 10, seed=i).weak
    pool = examples_artifact(out_dir / "pool")
    write_examples(pool, splits, info)
    inputs = {spec.EXAMPLES_KEY: pool, spec.TEACHER_KEY: _model_at(teacher_uri)}
    params = {spec.STRATEGY_KEY: "spl", spec.MIN_COUNT_KEY: 3, spec.BATCH_SIZE_KEY: 64}
    return run_component(Executor, out_dir, inputs, params)[spec.RELABELED_EXAMPLES_KEY]


def _stock_evaluator_and_report(out_dir, examples_uri: str, model) -> dict:
    """The stock Evaluator, then EvaluationReport, on the model and the eval split."""

    from frontier.components.evaluate import spec
    from frontier.components.evaluate.executor import Executor

    examples = examples_artifact(examples_uri)
    evaluation, blessing = run_stock_evaluator(out_dir, examples, model)
    inputs = {
        spec.EXAMPLES_KEY: examples,
        spec.MODEL_KEY: model,
        spec.EVALUATION_KEY: evaluation,
        spec.BLESSING_KEY: blessing,
    }
    report = run_component(Executor, out_dir / "report", inputs, {})[spec.VISUALIZATION_KEY]
    with open(os.path.join(report.uri, spec.METRICS_FILE)) as f:
        return json.load(f)


def test_trainers_give_the_same_results_on_both_layouts(
    tmp_path, digits_examples_uri, compact_digits_uri
):
    properties = {}
    for name, uri in (("float32", digits_examples_uri), ("uint8", compact_digits_uri)):
        models = (_trainer(tmp_path / name / "trainer", uri), _dp_ftrl(tmp_path / name, uri))
        properties[name] = [
            m.get_float_custom_property(p)
            for m in models
            for p in ("train_accuracy", "eval_accuracy", "eval_loss")
        ]
    assert properties["uint8"] == properties["float32"]


def test_kip_spl_and_the_stock_evaluator_read_the_compact_layout(
    tmp_path, digits_examples_uri, compact_digits_uri, digits_model_uri
):
    from frontier.components.common.examples_io import load_split
    from frontier.components.trainer import predict_examples

    # KIP: its distilled images are continuous, so they are written as float32.
    krr, distilled = _kip(tmp_path / "kip", compact_digits_uri)
    assert DatasetInfo.read(distilled.uri).image_encoding is None
    served = predict_examples(krr.uri, digits_examples_uri)
    accuracy = float(np.mean(served["classes"] == served["label"]))
    assert krr.get_float_custom_property("eval_accuracy") == pytest.approx(accuracy)
    # SPL: the relabelled pool keeps the compact layout, its teacher (trained
    # on the float32 layout) labels it as it labels the float32 examples.
    relabelled = _spl(tmp_path / "spl", compact_digits_uri, digits_model_uri)
    assert DatasetInfo.read(relabelled.uri).image_encoding == UINT8_ENCODING
    for split in SPLITS:
        got = load_split(relabelled.uri, split)
        np.testing.assert_array_equal(got["x"], load_split(digits_examples_uri, split)["x"])
        want = predict_examples(digits_model_uri, digits_examples_uri, split)["classes"]
        np.testing.assert_array_equal(got["teacher_label"], want)
    # The stock Evaluator and EvaluationReport: the float32-trained model on the
    # compact eval split (as the KIP pipeline evaluates its distilled-set models).
    model = _model_at(digits_model_uri)
    summary = _stock_evaluator_and_report(tmp_path / "evaluator", compact_digits_uri, model)
    served = predict_examples(digits_model_uri, digits_examples_uri)
    accuracy = float(np.mean(served["classes"] == served["label"]))
    assert summary["slices"]["Overall"]["accuracy"] == pytest.approx(accuracy)


def test_stock_statistics_gen_and_schema_gen_read_the_compact_layout(tmp_path, compact_digits_uri):
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.components.schema_gen import executor as schema_gen_executor
    from tfx.components.statistics_gen import executor as statistics_gen_executor
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import io_utils

    statistics, schema = standard_artifacts.ExampleStatistics(), standard_artifacts.Schema()
    statistics.uri, schema.uri = str(tmp_path / "statistics"), str(tmp_path / "schema")
    statistics_gen_executor.Executor().Do(
        {standard_component_specs.EXAMPLES_KEY: [examples_artifact(compact_digits_uri)]},
        {standard_component_specs.STATISTICS_KEY: [statistics]},
        {standard_component_specs.EXCLUDE_SPLITS_KEY: "[]"},
    )
    schema_gen_executor.Executor().Do(
        {standard_component_specs.STATISTICS_KEY: [statistics]},
        {standard_component_specs.SCHEMA_KEY: [schema]},
        {standard_component_specs.INFER_FEATURE_SHAPE_KEY: 1},
    )
    inferred = io_utils.parse_pbtxt_file(
        os.path.join(schema.uri, "schema.pbtxt"), schema_pb2.Schema()
    )
    types = {f.name: schema_pb2.FeatureType.Name(f.type) for f in inferred.feature}
    assert types["pixels/uint8"] == "BYTES" and types["pixels/divisor"] == "INT"
